"""Which script a package manager runs, and where (the node check's reading of a command)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.checks.nodesetup import invocation
from devstack.spec import ServiceSpec

CWD = Path("/srv/app")


def service(cmd: str) -> ServiceSpec:
    return ServiceSpec(
        name="web", cmd=cmd, argv=("/bin/sh", "-c", cmd), cwd=CWD, env={}, shell=True
    )


@pytest.mark.parametrize(
    ("cmd", "expected"),
    [
        ("pnpm dev --port 3000", ("pnpm", "dev", False, CWD)),
        ("pnpm run dev", ("pnpm", "dev", True, CWD)),
        ("npm run --silent dev -- --port 3000", ("npm", "dev", True, CWD)),
        ("npm run-script dev", ("npm", "dev", True, CWD)),
        ("cd web && exec pnpm dev", ("pnpm", "dev", False, CWD / "web")),
        ("pnpm -C web dev", ("pnpm", "dev", False, CWD / "web")),
        ("npm --prefix=web run dev", ("npm", "dev", True, CWD / "web")),
        ("yarn --cwd web start", ("yarn", "start", False, CWD / "web")),
        ("npm start", ("npm", "start", False, CWD)),
        ("PORT=3000 bun run dev", ("bun", "dev", True, CWD)),
    ],
)
def test_the_script_and_its_folder(cmd: str, expected: tuple[str, str, bool, Path]) -> None:
    run = invocation(service(cmd))
    assert run is not None
    assert (run.manager, run.script, run.explicit, run.folder) == expected


@pytest.mark.parametrize(
    "cmd",
    [
        "pnpm --filter web dev",  # another package's script
        "pnpm -r dev",
        "npm -w packages/web run dev",
        "yarn workspace web dev",
        "pnpm install",  # the manager's own commands
        "pnpm exec next dev",
        "npx next dev",
        "npm ci",
        "pnpm run",  # lists the scripts
        "next dev",
    ],
)
def test_no_script_to_check(cmd: str) -> None:
    assert invocation(service(cmd)) is None
