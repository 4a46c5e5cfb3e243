"""The node check (issue 15, point 9): a Node service's setup state, read before a start.

Real package.json files and the real pnpm/npm/node on PATH: the packages are a local
``file:`` dependency, so ``pnpm install --offline`` needs no registry. Each case also
runs the real tool once, to pin that the failure the check predicts is what the user
would see.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from support.stackrun import run_devstack

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(shutil.which("pnpm") is None, reason="needs pnpm"),
]

SCRIPTS = {"dev": "node -e 1", "build": "node -e 2", "start": "node -e 3"}


def project(root: Path, **package: object) -> Path:
    """web/ with a package.json depending on a local package (tiny, with a bin)."""
    web = root / "web"
    (web / "tiny").mkdir(parents=True)
    (web / "tiny" / "package.json").write_text(
        json.dumps({"name": "tiny", "version": "1.0.0", "bin": {"tinybin": "bin.js"}})
    )
    (web / "tiny" / "bin.js").write_text("#!/usr/bin/env node\nconsole.log('tiny')\n")
    data = {
        "name": "web",
        "version": "1.0.0",
        "scripts": SCRIPTS,
        "dependencies": {"tiny": "file:./tiny"},
        **package,
    }
    (web / "package.json").write_text(json.dumps(data, indent=2) + "\n")
    return web


def stack(root: Path, cmd: str, extra: str = "") -> None:
    (root / "stack.toml").write_text(
        textwrap.dedent(f"""\
        [services.web]
        cwd = "web"
        cmd = "{cmd}"
        """)
        + textwrap.dedent(extra)
    )


def install(web: Path, manager: str = "pnpm") -> None:
    subprocess.run(
        [manager, "install", "--offline"],
        cwd=web,
        check=True,
        capture_output=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
    )


def node_results(root: Path) -> tuple[int, list[dict[str, object]]]:
    ran = run_devstack(root, "check", "--json", timeout=60)
    assert ran.returncode in (0, 1), ran.stdout + ran.stderr
    payload = json.loads(ran.stdout)
    return ran.returncode, [r for r in payload["services"]["web"] if r["check"] == "node"]


def test_pnpm_run_of_a_missing_script_fails_listing_the_scripts(tmp_path: Path) -> None:
    web = project(tmp_path)
    install(web)
    stack(tmp_path, "pnpm run devv --port 3000")
    # What the user meets at `up`: pnpm refuses.
    real = subprocess.run(
        ["pnpm", "run", "devv"], cwd=web, capture_output=True, text=True, timeout=60
    )
    assert real.returncode != 0 and "Missing script" in real.stdout + real.stderr

    text = run_devstack(tmp_path, "check", timeout=60)
    assert text.returncode == 1, text.stdout + text.stderr
    assert "web  fail  node        `pnpm run devv`: web/package.json has no script devv" in (
        text.stdout
    )
    assert "scripts in web/package.json: build, dev, start" in text.stdout
    assert "fix: pnpm run dev (did you mean dev?)" in text.stdout

    rc, results = node_results(tmp_path)
    assert rc == 1
    (result,) = results
    assert result["status"] == "fail"
    assert result["kind"] == "no-script"
    assert result["file"] == "web/package.json"
    assert result["line"] == 4  # "scripts": {


def test_pnpm_shorthand_runs_a_bin_of_node_modules_and_fails_only_on_nothing(
    tmp_path: Path,
) -> None:
    web = project(tmp_path)
    install(web)
    stack(tmp_path, "pnpm tinybin")  # no script: pnpm runs node_modules/.bin/tinybin
    rc, results = node_results(tmp_path)
    assert rc == 0 and [r["status"] for r in results] == ["ok"], results

    stack(tmp_path, "pnpm serve")
    real = subprocess.run(["pnpm", "serve"], cwd=web, capture_output=True, text=True, timeout=60)
    assert real.returncode != 0
    rc, results = node_results(tmp_path)
    assert rc == 1 and results[0]["kind"] == "no-script", results


def test_npm_without_run_is_no_script_call(tmp_path: Path) -> None:
    web = project(tmp_path)
    install(web)
    stack(tmp_path, "npm dev")
    real = subprocess.run(["npm", "dev"], cwd=web, capture_output=True, text=True, timeout=60)
    assert real.returncode != 0 and "Unknown command" in real.stdout + real.stderr
    rc, results = node_results(tmp_path)
    assert rc == 1, results
    (result,) = results
    assert result["kind"] == "no-script"
    assert result["fix"] == "npm run dev"
    assert "npm has no command dev" in str(result["summary"])


def test_node_modules_missing_fails_naming_the_manager_from_the_lockfile(
    tmp_path: Path,
) -> None:
    web = project(tmp_path)
    install(web)
    shutil.rmtree(web / "node_modules")
    stack(tmp_path, "pnpm dev")
    text = run_devstack(tmp_path, "check", timeout=60)
    assert text.returncode == 1, text.stdout + text.stderr
    assert (
        "web  fail  node        node_modules is missing: the packages of web/package.json are "
        "not installed (pnpm, from web/pnpm-lock.yaml)" in text.stdout
    )
    assert "fix: pnpm install" in text.stdout
    rc, results = node_results(tmp_path)
    assert results[0]["kind"] == "not-installed" and results[0]["fix"] == "pnpm install"

    # The fix works: after it, the check is content.
    install(web)
    rc, results = node_results(tmp_path)
    assert rc == 0 and results[0]["status"] == "ok", results
    assert "node_modules newer than web/pnpm-lock.yaml (pnpm)" in str(results[0]["summary"])


def test_a_pending_setup_step_will_install_them_first_not_a_failure(tmp_path: Path) -> None:
    web = project(tmp_path)
    install(web)
    shutil.rmtree(web / "node_modules")
    setup = 'setup = "pnpm install --offline"\nsetup_inputs = ["package.json", "pnpm-lock.yaml"]\n'
    stack(tmp_path, "pnpm dev", setup)
    rc, results = node_results(tmp_path)
    assert rc == 0, results
    (result,) = results
    assert result["status"] == "warn" and result["kind"] == "not-installed"
    assert "the setup step of web has not run yet and will install them first" in str(
        result["summary"]
    )
    assert result["fix"] == "devstack setup web"

    # After the setup ran (its record written), a lockfile touched by git is no news:
    # the record says the install ran on this very content.
    setup_run = run_devstack(tmp_path, "setup", timeout=120)
    assert setup_run.returncode == 0, setup_run.stdout + setup_run.stderr
    later = time.time() + 5
    os.utime(web / "pnpm-lock.yaml", (later, later))
    rc, results = node_results(tmp_path)
    assert rc == 0 and results[0]["status"] == "ok", results
    assert "installed by the setup step on this web/pnpm-lock.yaml" in str(results[0]["summary"])


def test_node_modules_older_than_the_lockfile_warns(tmp_path: Path) -> None:
    web = project(tmp_path)
    install(web)
    later = time.time() + 5
    os.utime(web / "pnpm-lock.yaml", (later, later))  # the lockfile changed (a git pull)
    stack(tmp_path, "pnpm dev")
    rc, results = node_results(tmp_path)
    assert rc == 0, results
    (result,) = results
    assert result["status"] == "warn" and result["kind"] == "stale-install"
    assert result["summary"] == (
        "node_modules is older than web/pnpm-lock.yaml: pnpm install has not run since it changed"
    )
    assert result["fix"] == "pnpm install"


def test_engines_node_not_satisfied_warns_and_fails_under_npm_engine_strict(
    tmp_path: Path,
) -> None:
    web = project(tmp_path, engines={"node": ">=99"})
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=30)
    version = node.stdout.strip()
    install(web)
    stack(tmp_path, "pnpm dev")
    text = run_devstack(tmp_path, "check", timeout=60)
    assert text.returncode == 0, text.stdout + text.stderr
    assert (
        f"web  warn  node        node {version} does not satisfy engines.node '>=99' of "
        "web/package.json" in text.stdout
    )
    rc, results = node_results(tmp_path)
    (result,) = results
    assert result["kind"] == "node-engine" and result["line"] == 12  # "engines": {

    # engine-strict: npm's install refuses the project (the real npm, once), so a pending
    # `npm install` setup step cannot succeed.
    (web / ".npmrc").write_text("engine-strict=true\n")
    shutil.rmtree(web / "node_modules")
    real = subprocess.run(
        ["npm", "install", "--offline"], cwd=web, capture_output=True, text=True, timeout=90
    )
    assert real.returncode != 0 and "Not compatible with your version of node" in real.stderr
    stack(tmp_path, "pnpm dev", 'setup = "npm install --offline"\n')
    rc, results = node_results(tmp_path)
    assert rc == 1, results
    engine = next(r for r in results if r["kind"] == "node-engine")
    assert engine["status"] == "fail"
    assert "the setup step of web would fail: npm install --offline" in engine["details"]


def test_check_node_false_switches_it_off(tmp_path: Path) -> None:
    web = project(tmp_path)
    stack(tmp_path, "pnpm run devv", "check.node = false\n")
    assert not (web / "node_modules").exists()
    rc, results = node_results(tmp_path)
    assert rc == 0 and results == []


def test_plain_node_with_dev_tools_only_is_a_warning_not_a_block(tmp_path: Path) -> None:
    web = tmp_path / "web"
    web.mkdir()
    (web / "package.json").write_text(
        json.dumps({"name": "web", "devDependencies": {"nodemon": "3"}, "scripts": SCRIPTS})
    )
    (web / "package-lock.json").write_text("{}")
    (web / "server.js").write_text("require('http').createServer().close()\n")
    stack(tmp_path, "node server.js")
    real = subprocess.run(["node", "server.js"], cwd=web, capture_output=True, timeout=60)
    assert real.returncode == 0  # it runs without node_modules
    rc, results = node_results(tmp_path)
    assert rc == 0, results
    (result,) = results
    assert (result["status"], result["kind"], result["fix"]) == (
        "warn",
        "not-installed",
        "npm install",
    )
