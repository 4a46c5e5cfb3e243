"""The dependencies a service declares (issue 15 point 2): every file format, from its cwd
upwards to the stack's folder or the repository's root, parsed once per run."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.checks import declared
from devstack.checks.declared import (
    distribution_candidates,
    distribution_of,
    install_command,
    manifests,
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_requirements_follow_includes_and_skip_what_names_no_distribution(tmp_path: Path) -> None:
    write(
        tmp_path / "requirements" / "base.txt", "Flask>=3\nPyYAML==6.0.1 \\\n  --hash=sha256:ab\n"
    )
    write(
        tmp_path / "requirements.txt",
        "# the app\n-r requirements/base.txt\n-c constraints.txt\n-e .\n./vendor/thing\n"
        "requests-oauthlib ; python_version >= '3.8'  # auth\n--index-url https://x\n"
        "gunicorn[gevent] @ https://example.invalid/g.whl\n",
    )
    found = manifests(tmp_path, tmp_path)
    assert set(found.declarations) == {"flask", "pyyaml", "requests-oauthlib", "gunicorn"}
    yaml = found.find("pyyaml")
    assert yaml is not None
    assert (yaml.path, yaml.line, yaml.source) == (
        tmp_path / "requirements" / "base.txt",
        2,
        tmp_path / "requirements.txt",
    )
    assert install_command(yaml, ".venv/bin/python", tmp_path) == (
        ".venv/bin/python -m pip install -r requirements.txt"
    )


def test_an_include_cycle_ends(tmp_path: Path) -> None:
    write(tmp_path / "requirements.txt", "-r requirements-dev.txt\nflask\n")
    write(tmp_path / "requirements-dev.txt", "-r requirements.txt\npytest\n")
    assert set(manifests(tmp_path, tmp_path).declarations) == {"flask", "pytest"}


def test_pyproject_project_extras_groups_and_poetry(tmp_path: Path) -> None:
    write(
        tmp_path / "pyproject.toml",
        '[project]\nname = "shop"\ndependencies = ["Flask>=3", "python-dotenv"]\n'
        '[project.optional-dependencies]\nimages = ["Pillow"]\n'
        '[dependency-groups]\ndev = ["pytest", {include-group = "lint"}]\nlint = ["ruff"]\n'
        '[tool.poetry.dependencies]\npython = "^3.11"\nrequests = "^2"\n'
        '[tool.poetry.group.docs.dependencies]\nmkdocs = "*"\n',
    )
    found = manifests(tmp_path, tmp_path)
    forms = {n: (d.form, d.section) for n, d in found.declarations.items()}
    assert forms == {
        "flask": ("project", None),
        "python-dotenv": ("project", None),
        "pillow": ("extra", "images"),
        "pytest": ("group", "dev"),
        "ruff": ("group", "lint"),
        "requests": ("poetry", None),
        "mkdocs": ("poetry", "docs"),
    }
    python = ".venv/bin/python"

    def fix(name: str) -> str:
        decl = found.find(name)
        assert decl is not None
        return install_command(decl, python, tmp_path)

    assert fix("flask") == ".venv/bin/python -m pip install -e '.'"
    assert fix("pillow") == ".venv/bin/python -m pip install -e '.[images]'"
    assert fix("pytest") == ".venv/bin/python -m pip install --group pyproject.toml:dev"
    assert fix("requests") == "poetry install"
    assert fix("mkdocs") == "poetry install --with docs"


def test_uv_lock_and_pipfile(tmp_path: Path) -> None:
    write(tmp_path / "uv" / "pyproject.toml", '[project]\nname = "a"\ndependencies = ["flask"]\n')
    write(tmp_path / "uv" / "uv.lock", 'version = 1\n[[package]]\nname = "werkzeug"\n')
    write(
        tmp_path / "pipenv" / "Pipfile", '[packages]\nflask = "*"\n[dev-packages]\npytest = "*"\n'
    )
    uv = manifests(tmp_path / "uv", tmp_path)
    flask, werkzeug = uv.find("flask"), uv.find("Werkzeug")
    assert flask is not None and werkzeug is not None
    assert install_command(flask, "python", tmp_path / "uv") == "uv sync"
    assert install_command(werkzeug, "python", tmp_path) == "uv sync (in uv)"
    pipenv = manifests(tmp_path / "pipenv", tmp_path)
    flask, pytest_ = pipenv.find("flask"), pipenv.find("pytest")
    assert flask is not None and pytest_ is not None
    assert install_command(flask, "python", tmp_path / "pipenv") == "pipenv install"
    assert install_command(pytest_, "python", tmp_path / "pipenv") == "pipenv install --dev"


def test_the_walk_goes_up_to_the_stack_folder_or_the_repository_root(tmp_path: Path) -> None:
    write(tmp_path / "requirements.txt", "above-the-repo\n")
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    write(repo / "pyproject.toml", '[project]\nname = "r"\ndependencies = ["at-the-root"]\n')
    write(repo / "apps" / "requirements.txt", "in-between\n")
    backend = repo / "apps" / "backend"
    write(backend / "requirements.txt", "flask\n")
    assert set(manifests(backend, repo).declarations) == {"flask", "in-between", "at-the-root"}
    # The stack's folder ends it below the repository's root.
    assert set(manifests(backend, repo / "apps").declarations) == {"flask", "in-between"}
    # A cwd outside the stack's folder: up to the repository's root, never above it.
    assert "above-the-repo" not in manifests(backend, tmp_path / "elsewhere").declarations
    # The nearer declaration wins.
    write(repo / "apps" / "requirements.txt", "flask==2\n")
    found = manifests(backend, repo).find("Flask")
    assert found is not None and found.path == backend / "requirements.txt"


def test_each_file_is_parsed_once_until_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "requirements.txt", "flask\n")
    reads: list[Path] = []
    real = declared._requirements

    def counting(p: Path, *args: object) -> list[declared.Declaration]:
        reads.append(p)
        return real(p)

    monkeypatch.setattr(declared, "_requirements", counting)
    for _ in range(3):
        assert manifests(tmp_path, tmp_path).find("flask") is not None
    assert reads == [path]
    write(path, "flask\npyyaml\n")
    assert manifests(tmp_path, tmp_path).find("PyYAML") is not None
    assert reads == [path, path]
    # An included file that changes is read again too.
    write(path, "-r base.txt\n")
    write(tmp_path / "base.txt", "flask\n")
    assert manifests(tmp_path, tmp_path).find("requests") is None
    write(tmp_path / "base.txt", "flask\nrequests\n")
    assert manifests(tmp_path, tmp_path).find("requests") is not None


@pytest.mark.parametrize(
    ("module", "distribution"),
    [
        ("requests_oauthlib", "requests-oauthlib"),
        ("yaml", "PyYAML"),
        ("PIL.Image", "Pillow"),
        ("cv2", "opencv-python"),
        ("sklearn.linear_model", "scikit-learn"),
        ("dateutil.parser", "python-dateutil"),
        ("jwt", "PyJWT"),
        ("dotenv", "python-dotenv"),
        ("bs4", "beautifulsoup4"),
        ("flask_sqlalchemy", "flask-sqlalchemy"),
    ],
)
def test_import_names_map_to_distributions(module: str, distribution: str) -> None:
    assert distribution_of(module) == distribution


def test_a_declared_distribution_is_matched_by_its_import_name(tmp_path: Path) -> None:
    write(
        tmp_path / "requirements.txt",
        "google-cloud-storage\nFlask_SQLAlchemy\npython-magic\nPyYAML\n",
    )
    found = manifests(tmp_path, tmp_path)
    for module, name in [
        ("google.cloud.storage", "google-cloud-storage"),
        ("flask_sqlalchemy", "Flask_SQLAlchemy"),
        ("magic", "python-magic"),
        ("yaml", "PyYAML"),
    ]:
        decl = found.declared(distribution_candidates(module))
        assert decl is not None and decl.distribution == name, module
    assert found.declared(distribution_candidates("requests_oauthlib")) is None
    # A namespace package found, its part not: a declared google-cloud-* provides it.
    decl = found.extending("google-cloud")
    assert decl is not None and decl.distribution == "google-cloud-storage"
    assert found.extending("pyyaml") is None
    # yaml found, yaml.foo not: no sign that PyYAML is missing.
    assert found.declared(distribution_candidates("yaml.foo")) is None
