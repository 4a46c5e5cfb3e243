"""Setup steps, the pure part: fingerprints, when a setup must run, its record, the venv."""

from __future__ import annotations

from pathlib import Path

from devstack.procs.setuprecord import (
    fingerprint,
    read_record,
    record_path,
    top_dirs,
    why_run,
    write_record,
)
from devstack.project.venv import with_found_venv
from devstack.spec import ServiceSpec

SETUP = "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt"


def test_same_content_same_digest_and_any_input_change_differs(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("flask==3.0.3\n")
    first = fingerprint(SETUP, tmp_path, ["requirements.txt"])
    assert fingerprint(SETUP, tmp_path, ["requirements.txt"]).digest == first.digest
    # Touching a file without changing it is not a change (content, not mtime).
    (tmp_path / "requirements.txt").write_text("flask==3.0.3\n")
    assert fingerprint(SETUP, tmp_path, ["requirements.txt"]).digest == first.digest
    (tmp_path / "requirements.txt").write_text("flask==3.1.0\n")
    assert fingerprint(SETUP, tmp_path, ["requirements.txt"]).digest != first.digest


def test_the_setup_line_is_part_of_the_digest(tmp_path: Path) -> None:
    a = fingerprint("pnpm install", tmp_path, [])
    b = fingerprint("pnpm install --frozen-lockfile", tmp_path, [])
    assert a.digest != b.digest
    assert a.files == {} and b.files == {}


def test_globs_directories_and_files_appearing_later(tmp_path: Path) -> None:
    (tmp_path / "reqs").mkdir()
    (tmp_path / "reqs" / "base.txt").write_text("a\n")
    (tmp_path / "reqs" / "dev.txt").write_text("b\n")
    (tmp_path / "package.json").write_text("{}")
    fp = fingerprint("x", tmp_path, ["*.json", "reqs", "pnpm-lock.yaml"])
    assert sorted(fp.files) == ["package.json", "reqs/base.txt", "reqs/dev.txt"]
    # A lock file created since is a change too.
    (tmp_path / "pnpm-lock.yaml").write_text("lockfileVersion: '9.0'\n")
    later = fingerprint("x", tmp_path, ["*.json", "reqs", "pnpm-lock.yaml"])
    assert "pnpm-lock.yaml" in later.files
    assert later.digest != fp.digest
    # Nested globs reach subdirectories; a file matched twice counts once.
    fp2 = fingerprint("x", tmp_path, ["**/*.txt", "reqs/base.txt"])
    assert sorted(fp2.files) == ["reqs/base.txt", "reqs/dev.txt"]


def test_why_run_names_what_changed(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("flask\n")
    (tmp_path / "constraints.txt").write_text("x\n")
    patterns = ["requirements.txt", "constraints.txt"]
    before = fingerprint(SETUP, tmp_path, patterns)
    record = before.to_json()
    assert why_run(None, before) == "first run"
    assert why_run(record, before) is None
    assert why_run(record, before, force=True) == "--force"
    (tmp_path / "requirements.txt").write_text("flask\ngunicorn\n")
    assert why_run(record, fingerprint(SETUP, tmp_path, patterns)) == "requirements.txt changed"
    (tmp_path / "constraints.txt").unlink()
    now = fingerprint(SETUP, tmp_path, patterns)
    assert why_run(record, now) == "constraints.txt, requirements.txt changed"
    assert why_run(record, fingerprint(SETUP + " -q", tmp_path, patterns)) == "setup changed"


def test_why_run_with_many_changed_files_stays_one_line(tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / f"f{i}.txt").write_text("a")
    before = fingerprint("x", tmp_path, ["*.txt"]).to_json()
    for i in range(5):
        (tmp_path / f"f{i}.txt").write_text("b")
    assert why_run(before, fingerprint("x", tmp_path, ["*.txt"])) == (
        "f0.txt, f1.txt, f2.txt and 2 more changed"
    )


def test_no_setup_inputs_runs_once_then_only_when_the_line_changes(tmp_path: Path) -> None:
    state = tmp_path / ".devstack"
    state.mkdir()
    assert read_record(state, "web") is None
    fp = fingerprint("pnpm install", tmp_path, [])
    write_record(state, "web", fp, took=1.5)
    record = read_record(state, "web")
    assert record is not None and record["took"] == 1.5
    assert why_run(record, fingerprint("pnpm install", tmp_path, [])) is None
    assert why_run(record, fingerprint("pnpm install --prod", tmp_path, [])) == "setup changed"
    # The record is private, like the rest of .devstack.
    assert (state / "setup").stat().st_mode & 0o077 == 0
    assert (state / "setup" / "web.json").stat().st_mode & 0o077 == 0


def test_a_corrupt_record_means_run_again(tmp_path: Path) -> None:
    (tmp_path / "setup").mkdir()
    (tmp_path / "setup" / "api.json").write_text("{not json")
    assert read_record(tmp_path, "api") is None
    (tmp_path / "setup" / "api.json").write_text("[1, 2]")
    assert read_record(tmp_path, "api") is None


def test_a_venv_made_by_the_setup_is_activated_in_the_spec(tmp_path: Path) -> None:
    spec = ServiceSpec(
        name="api", cmd="gunicorn api:app", argv=("gunicorn", "api:app"), cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert with_found_venv(spec) is spec  # no venv yet
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    found = with_found_venv(spec)
    assert found.venv == tmp_path / ".venv"
    assert found.env["PATH"] == f"{tmp_path / '.venv' / 'bin'}:/usr/bin:/bin"
    assert found.env["VIRTUAL_ENV"] == str(tmp_path / ".venv")
    assert with_found_venv(found) is found


def test_a_directory_the_last_run_made_that_is_gone_means_run_again(tmp_path: Path) -> None:
    fp = fingerprint("python -m venv .venv", tmp_path, [])
    write_record(tmp_path, "api", fp, took=2.0, made=[".venv", "node_modules"])
    record = read_record(tmp_path, "api")
    assert record is not None and record["made"] == [".venv", "node_modules"]
    assert why_run(record, fp, present={".venv", "node_modules", "src"}) is None
    assert why_run(record, fp, present={"node_modules"}) == ".venv is gone"
    assert why_run(record, fp, present=set()) == ".venv, node_modules are gone"
    # A record from before `made` was kept: judged on its fingerprint alone.
    old = {k: v for k, v in record.items() if k != "made"}
    assert why_run(old, fp, present=set()) is None


def test_top_dirs_lists_directories_and_links_to_them(tmp_path: Path) -> None:
    (tmp_path / ".venv").mkdir()
    (tmp_path / "requirements.txt").write_text("flask\n")
    (tmp_path / "node_modules").symlink_to(tmp_path / ".venv")  # kept elsewhere: present
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "file-link").symlink_to(tmp_path / "requirements.txt")
    assert top_dirs(tmp_path) == {".venv", "node_modules"}
    assert top_dirs(tmp_path / "missing") == set()


def test_records_of_stack_toml_stay_where_they_were_and_other_stack_files_get_their_own(
    tmp_path: Path,
) -> None:
    state = tmp_path / ".devstack"
    state.mkdir()
    assert record_path(state, "web") == state / "setup" / "web.json"
    assert record_path(state, "web", tmp_path / "stack.toml") == state / "setup" / "web.json"
    dev = record_path(state, "web", tmp_path / "dev.toml")
    assert dev == state / "setup" / "dev.toml" / "web.json"
    write_record(state, "web", fingerprint("make", tmp_path, []), took=1.0)
    assert read_record(state, "web", tmp_path / "dev.toml") is None  # its own: never run
    write_record(
        state, "web", fingerprint("make dev", tmp_path, []), 1.0, (), tmp_path / "dev.toml"
    )
    assert read_record(state, "web", tmp_path / "dev.toml")["setup"] == "make dev"  # type: ignore[index]
    assert read_record(state, "web", tmp_path / "stack.toml")["setup"] == "make"  # type: ignore[index]
