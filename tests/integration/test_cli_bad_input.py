"""The real `devstack up` / `devstack config` on bad input: exit 2, one screen, nothing started.

Every malformed stack.toml / Procfile of ``tests/unit/config/configs/bad/`` is copied into a
temporary directory exactly as ``tests/unit/config/test_config_bad.py`` arranges it, then the
installed command runs there. The leak guard also fails a case that starts a service.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from support.stackrun import run_devstack, write_stack

BAD = Path(__file__).parents[1] / "unit" / "config" / "configs" / "bad"
CASES = sorted(p for p in BAD.iterdir() if p.suffix in (".toml", ".Procfile"))
SCREEN = 24  # lines: an error must fit on one terminal screen


def _place(case: Path, root: Path) -> Path:
    target = root / ("Procfile" if case.suffix == ".Procfile" else "stack.toml")
    shutil.copy(case, target)
    return target


def _names(target: Path) -> tuple[str, ...]:
    # The message may name the path as given or resolved (a symlinked tmp dir).
    return (str(target), str(target.resolve()))


def test_every_bad_case_is_here() -> None:
    assert len(CASES) >= 29
    assert all(case.with_suffix(".expect").exists() for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_up_on_bad_config_exits_2_naming_the_file_and_starts_nothing(
    case: Path, tmp_path: Path
) -> None:
    target = _place(case, tmp_path)
    result = run_devstack(tmp_path, "up")
    assert result.returncode == 2, result.stdout + result.stderr
    assert any(name in result.stderr for name in _names(target)), result.stderr
    first = result.stderr.splitlines()[0]
    assert result.stderr.count(first) == 1, result.stderr  # said once: the config child is silent
    both = result.stdout + result.stderr
    assert "Traceback" not in both
    assert len(both.splitlines()) <= SCREEN, both
    assert "[start]" not in result.stdout
    assert not (tmp_path / ".devstack" / "state.json").exists()


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_config_on_bad_config_exits_2(case: Path, tmp_path: Path) -> None:
    target = _place(case, tmp_path)
    result = run_devstack(tmp_path, "config")
    assert result.returncode == 2, result.stdout + result.stderr
    assert any(name in result.stderr for name in _names(target)), result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_no_stack_file_is_a_usage_error_with_a_hint(tmp_path: Path) -> None:
    result = run_devstack(tmp_path, "up")
    assert result.returncode == 2
    assert "no stack.toml or Procfile" in result.stderr
    assert "hint:" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / ".devstack").exists()


def test_up_with_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    write_stack(tmp_path, '[services.web]\ncmd = "sleep 30"\n')  # present, but not the one asked
    result = run_devstack(tmp_path, "up", "-f", "missing.toml")
    assert result.returncode == 2
    assert "missing.toml" in result.stderr
    assert "Traceback" not in result.stderr
    assert "[start]" not in result.stdout


def test_bad_log_size_in_the_environment_is_a_usage_error(tmp_path: Path) -> None:
    write_stack(tmp_path, '[services.web]\ncmd = "sleep 30"\n')
    result = run_devstack(tmp_path, "up", env={"DEVSTACK_LOG_MAX_BYTES": "10MB"})
    assert result.returncode == 2
    assert "DEVSTACK_LOG_MAX_BYTES='10MB'" in result.stderr and "hint:" in result.stderr
    assert "Traceback" not in result.stderr
    assert "[start]" not in result.stdout


@pytest.mark.parametrize(
    "args", [("--version",), ("--help",), ("up", "--help")], ids=["version", "help", "up-help"]
)
def test_version_and_help_exit_0(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = run_devstack(tmp_path, *args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert "Traceback" not in result.stderr


def test_logs_since_refuses_a_duration_stack_toml_refuses(tmp_path: Path) -> None:
    """`logs --since` reads durations as stack.toml does: "30s1m" (units out of order)
    is refused by both, exit 2, with the same words."""
    write_stack(tmp_path, '[services.web]\ncmd = "sleep 30"\nstop_timeout = "30s1m"\n')
    config = run_devstack(tmp_path, "config")
    assert config.returncode == 2, config.stdout + config.stderr
    assert "'30s1m': write each unit once, largest first" in config.stderr
    write_stack(tmp_path, '[services.web]\ncmd = "sleep 30"\n')
    logs = run_devstack(tmp_path, "logs", "--since", "30s1m")
    assert logs.returncode == 2, logs.stdout + logs.stderr
    assert logs.stderr.startswith("error: --since: '30s1m': write each unit once, largest first")
    assert "Traceback" not in logs.stderr
    assert run_devstack(tmp_path, "logs", "--since", "1m30s").returncode == 0


@pytest.mark.parametrize(
    "args",
    [
        ("up", "--no-such-flag"),
        ("up", "--watch", "--no-watch"),
        ("stop",),  # SVC is required
        ("ps", "extra"),
        ("logs", "-n", "x"),
        ("frobnicate",),
        (),
    ],
    ids=[
        "unknown-flag",
        "exclusive-pair",
        "missing-svc",
        "extra-arg",
        "bad-int",
        "command",
        "none",
    ],
)
def test_bad_usage_exits_2_with_the_usage_and_starts_nothing(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    write_stack(tmp_path, '[services.web]\ncmd = "sleep 30"\n')
    result = run_devstack(tmp_path, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("usage: devstack"), result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / ".devstack").exists()


@pytest.mark.parametrize("command", ["up", "ps", "logs", "restart", "stop", "start", "down"])
def test_each_command_has_its_help(tmp_path: Path, command: str) -> None:
    result = run_devstack(tmp_path, command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: devstack {command} [-h]"), result.stdout
    assert "--file" in result.stdout
