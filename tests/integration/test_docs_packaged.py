"""The reference reachable from an installed devstack (issue 13: hints pointed at
docs/stack-toml.md, which a wheel does not ship): a built wheel holds the pages and
its metadata names the project's URLs; the installed command prints them; the hints
name that command."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from devstack.cli.docs import TOPICS, page
from support.stackrun import run_devstack

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "stack-toml.md"


def _pip(*args: str) -> None:
    """pip offline (the packaging test must not need the network)."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", *args, "--no-deps", "--no-index", "-q"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _build_wheel(tmp_path: Path) -> Path:
    """A wheel built offline from a copy of the source (the tree is left untouched)."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "src", source / "src", symlinks=True, ignore=ignore)
    shutil.copytree(ROOT / "docs", source / "docs")
    out = tmp_path / "dist"
    _pip("wheel", "--no-build-isolation", "-w", str(out), str(source))
    [wheel] = out.glob("devstack-*.whl")
    return wheel


def test_a_built_wheel_ships_the_reference_and_the_installed_command_prints_it(
    tmp_path: Path,
) -> None:
    wheel = _build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as z:
        packaged = z.read("devstack/docs/stack-toml.md").decode()
        [metadata] = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
        meta = z.read(metadata).decode()
    assert packaged == REFERENCE.read_text()
    assert "Project-URL: Documentation, https://" in meta
    assert "Project-URL: Homepage, https://" in meta

    site = tmp_path / "site"  # the wheel installed on its own, first on the path
    _pip("install", "--target", str(site), str(wheel))
    shown = run_devstack(tmp_path, "docs", "--path", env={"PYTHONPATH": str(site)})
    assert shown.returncode == 0, shown.stderr
    assert Path(shown.stdout.strip()).is_relative_to(site)  # the installed copy, not src/
    assert Path(shown.stdout.strip()).read_text() == REFERENCE.read_text()


def test_hints_name_devstack_docs_and_it_prints_the_reference(tmp_path: Path) -> None:
    no_stack = run_devstack(tmp_path, "up")
    assert no_stack.returncode == 2
    assert "its format: `devstack docs`" in no_stack.stderr
    no_procfile = run_devstack(tmp_path, "init")
    assert no_procfile.returncode == 2
    assert "devstack docs stack-toml" in no_procfile.stderr

    printed = run_devstack(tmp_path, "docs", "stack-toml")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == REFERENCE.read_text()
    assert run_devstack(tmp_path, "docs").stdout == printed.stdout  # the default topic

    unknown = run_devstack(tmp_path, "docs", "stack-yaml")
    assert unknown.returncode == 2
    assert "no reference page named 'stack-yaml'" in unknown.stderr
    assert "topics: stack-toml, interop, protocol" in unknown.stderr


def test_the_packaged_pages_are_the_repositorys_docs() -> None:
    for name, (file, _what) in TOPICS.items():
        assert page(name).read_text(encoding="utf-8") == (ROOT / "docs" / file).read_text(), name


def _strings_outside_docstrings(tree: ast.AST) -> list[ast.Constant]:
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if id(node) not in docstrings
    ]


def test_no_message_names_a_repository_docs_path() -> None:
    """An installed devstack has no docs/ folder: hints name `devstack docs` instead."""
    found = []
    for path in sorted((ROOT / "src" / "devstack").rglob("*.py")):
        for node in _strings_outside_docstrings(ast.parse(path.read_text())):
            if re.search(r"docs/[\w-]+\.md", node.value):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value}")
    assert found == []
