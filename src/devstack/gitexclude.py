"""A new state folder listed in its repository's ``.git/info/exclude``.

The folder's own ``.gitignore`` (``*``) hides what is inside it, not the folder: Tailwind
v4 hands every folder no ignore rule hides to the bundler as a directory to watch, and
webpack (Next's postcss-loader makes it a context dependency) rebuilt on every log line
written there. ``info/exclude`` is local to the clone and never committed, so the
project's files stay untouched. Best effort throughout: no git, no repository, a folder
git ignores already (the project's .gitignore lists it), or an exclude file that cannot
be written all leave everything as it was. Run once per folder (when its .gitignore is
written), never on a client command's path.
"""

from __future__ import annotations

import os
import subprocess

_NOTE = "# devstack's state folder (its logs, socket and state)"


def exclude_from_git(state_dir: str) -> None:
    """Add ``/REL/`` for ``state_dir`` to the enclosing repository's info/exclude."""
    found = _repository(os.path.dirname(state_dir))
    if found is None or _git(found[0], "check-ignore", "-q", state_dir) != (1, ""):
        return  # not in a repository, ignored already, or git could not say
    top, common = found
    rel = os.path.relpath(os.path.realpath(state_dir), top)  # git's top is a real path
    if rel.startswith(".."):
        return
    line = "/" + rel.replace(os.sep, "/") + "/"
    exclude = os.path.join(common, "info", "exclude")
    try:
        os.makedirs(os.path.dirname(exclude), exist_ok=True)
        with open(exclude, "a", encoding="utf-8") as f:
            f.write(f"{_NOTE}\n{line}\n")
    except OSError:
        pass


def _repository(start: str) -> tuple[str, str] | None:
    """(work tree, common git directory: a worktree's is its main repository's)."""
    code, out = _git(start, "rev-parse", "--show-toplevel", "--git-common-dir")
    lines = out.splitlines()
    if code != 0 or len(lines) != 2:
        return None
    top, common = lines
    return top, os.path.normpath(os.path.join(start, common))


def _git(cwd: str, *args: str) -> tuple[int | None, str]:
    """(exit code, stdout) of ``git -C cwd ARGS``; (None, "") when git cannot run."""
    try:
        done = subprocess.run(
            ["git", "-C", cwd, *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError, UnicodeDecodeError):
        return None, ""
    return done.returncode, done.stdout.strip()
