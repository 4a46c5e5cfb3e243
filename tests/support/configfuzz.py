"""A small mutational fuzzer of stack.toml: seeds (the repo's stack files and the tests'
configs) are mutated at the text and at the value level, each result is loaded, shown
(as `devstack config` does) and put through the spec cache's codec (as `up` does), and
every input that raises anything but ConfigError, or takes too long, is kept.

    python -m support.configfuzz --seconds 300 --out tests/unit/config/configs/hostile

(from ``tests/``). Kept inputs are written as ``fuzz-<hash>.toml``: the test module
``tests/unit/config/test_config_hostile.py`` loads every one of them. ``--check N``
then runs `devstack check` on N mutants that load and names each stack that broke it
(kept in its temporary folder; the others are removed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import signal
import sys
import tempfile
import time
import tomllib
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

# Strings that have broken a parser somewhere: paths, regexes, bytes, sizes, references.
NASTY = [
    "\x00", "a\x00b", "~nosuchuser/x", "~", "~/", "/dev/urandom", "/dev/zero", "/dev/null",
    "/proc/self/mem", "fifo", "/", ".", "..", "../" * 50, "a" * 5000, "a/" * 3000, "é" * 300,
    "\ud7ff", "\u202e", "\n", "\r\n", "\t", " ", "", "${", "${}", "${port", "${env:}",
    "${services..url}", "${services.a.b.c}", "$" * 100, "${env:HOME:-${port}}",
    "(" * 600 + ")" * 600,
    "(a+)+$", "[", "a{99999999999}", "(?P<x>", "\\", "%s%n", "{}", "0", "-1", "1e400",
    "http://[::1", "http://127.0.0.1:99999/", "http://user@127.0.0.1/", "http://127.0.0.1:0/",
    "tcp://", "127.0.0.1:", ":80", "SIGKILL", "SIG", "9", "1" * 400 + "s", "99999999h",
    "0.0000001ms", ".venv", "venv", "/nonexistent/venv", "python -c 'import sys'",
    "'unterminated", '"', "a;b|c&&d", "$(id)", "`id`",
]  # fmt: skip
NUMBERS = [0, -1, 1, 65535, 65536, 2**63 - 1, -(2**63), 10**18, 1.5, -0.0, float("inf")]


def seeds() -> list[str]:
    """The stack files of the repo and the tests' .toml configs."""
    found = [REPO / "stack.toml", *sorted((REPO / "examples").glob("*/stack.toml"))]
    found += sorted((REPO / "tests").rglob("*.toml"))
    texts = []
    for path in found:
        try:
            texts.append(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            continue
    return texts


# -- mutations -------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "inf" if value == float("inf") else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"


def to_toml(data: dict[str, Any]) -> str:
    """A document as TOML: scalars first, then each table ([[smoke]] as array tables)."""
    lines: list[str] = []

    def body(path: list[str], table: dict[str, Any]) -> None:
        subs = {
            k: v
            for k, v in table.items()
            if isinstance(v, dict)
            or (isinstance(v, list) and v and all(isinstance(x, dict) for x in v))
        }
        lines.extend(
            f"{json.dumps(k)} = {_toml_value(v)}" for k, v in table.items() if k not in subs
        )
        for key, value in subs.items():
            name = ".".join(json.dumps(p) for p in [*path, key])
            if isinstance(value, dict):
                lines.append(f"[{name}]")
                body([*path, key], value)
            else:
                for item in value:
                    lines.append(f"[[{name}]]")
                    lines.extend(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in item.items())

    body([], data)
    return "\n".join(lines) + "\n"


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _leaves(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _leaves(v, (*path, i))
    return out


def _nasty_value(rng: random.Random) -> Any:
    pick = rng.random()
    if pick < 0.6:
        return rng.choice(NASTY)
    if pick < 0.75:
        return rng.choice(NUMBERS)
    if pick < 0.85:
        depth = rng.choice([5, 40, 200, 1000])
        value: Any = "x"
        for _ in range(depth):
            value = [value] if rng.random() < 0.5 else {"k": value}
        return value
    if pick < 0.95:
        return [rng.choice(NASTY) for _ in range(rng.randint(0, 4))]
    return rng.choice([True, False, {}, []])


def mutate_value(text: str, rng: random.Random) -> str | None:
    """Replace one value of the parsed document (or add a key) and write it back."""
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError):
        return None
    paths = _leaves(data)[1:]
    if not paths:
        return None
    path = rng.choice(paths)
    node: Any = data
    for part in path[:-1]:
        node = node[part]
    if isinstance(node, dict) and rng.random() < 0.2:
        node[rng.choice(["venv", "env_file", "cwd", "setup", "body_contains", "log"])] = (
            _nasty_value(rng)
        )
    else:
        node[path[-1]] = _nasty_value(rng)
    try:
        return to_toml(data)
    except (TypeError, ValueError, RecursionError):
        return None


SERVICE_KEYS = [
    ("cwd",), ("venv",), ("env_file",), ("cmd",), ("setup",), ("url",), ("host",), ("port",),
    ("health", "log"), ("health", "http"), ("health", "cmd"), ("health", "tcp"),
    ("env", "X"), ("stop_signal",), ("stop_timeout",), ("watch",), ("setup_inputs",),
    ("check", "import"), ("check", "cmd"), ("depends_on",),
]  # fmt: skip
SMOKE_KEYS = ["url", "body", "body_contains", "headers", "json", "log_contains", "log_service"]


def mutate_key(text: str, rng: random.Random) -> str | None:
    """Set a known key of a service, of [stack] or of a [[smoke]] entry to a nasty value."""
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError):
        return None
    services = data.get("services")
    where = rng.random()
    value = _nasty_value(rng)
    if where < 0.75 and isinstance(services, dict) and services:
        svc = services[rng.choice(list(services))]
        if not isinstance(svc, dict):
            return None
        *tables, key = rng.choice(SERVICE_KEYS)
        for table in tables:
            svc = svc.setdefault(table, {})
            if not isinstance(svc, dict):
                return None
        svc[key] = [value, "x"] if key == "cmd" and rng.random() < 0.5 else value
    elif where < 0.85:
        stack = data.setdefault("stack", {})
        if not isinstance(stack, dict):
            return None
        stack[rng.choice(["env_file", "state_dir", "name"])] = value
    else:
        smoke = data.setdefault("smoke", [{"url": "http://127.0.0.1:1/"}])
        if not isinstance(smoke, list) or not smoke or not isinstance(smoke[0], dict):
            return None
        smoke[0][rng.choice(SMOKE_KEYS)] = value
    try:
        return to_toml(data)
    except (TypeError, ValueError, RecursionError):
        return None


def mutate_text(text: str, rng: random.Random) -> str:
    """Byte-level: flip, delete, duplicate or splice in a nasty string."""
    if not text:
        return rng.choice(NASTY)
    i = rng.randrange(len(text))
    kind = rng.randrange(5)
    if kind == 0:
        return text[:i] + chr(rng.randrange(1, 0x3000)) + text[i + 1 :]
    if kind == 1:
        return text[:i] + text[i + rng.randint(1, 40) :]
    if kind == 2:
        j = rng.randrange(len(text))
        return text[:i] + text[min(i, j) : max(i, j)] + text[i:]
    if kind == 3:
        return text[:i] + rng.choice(["[", "{", "[" * 500, "\\u0000", '"""', "'''", "="]) + text[i:]
    return text[:i] + json.dumps(rng.choice(NASTY))[1:-1] + text[i:]


# -- running one input -----------------------------------------------------------------


class Hang(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise Hang


def run_one(text: str, root: Path) -> str | None:
    """None if ``text`` loads (or is a ConfigError), else a one-line reason it broke."""
    (root / "stack.toml").write_text(text, encoding="utf-8", errors="surrogatepass")
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(5)
    try:
        try:
            return _load_show_cache(root)
        except Hang:
            raise
        except Exception as exc:
            signal.alarm(0)
            frames = traceback.extract_tb(exc.__traceback__)
            where = next((f for f in reversed(frames) if "devstack" in f.filename), frames[-1])
            return f"{type(exc).__name__} at {Path(where.filename).name}:{where.lineno}"
    except Hang:  # also when it comes while the slow failure above is being handled
        return "hang (over 5 s)"
    finally:
        signal.alarm(0)


def _load_show_cache(root: Path) -> str | None:
    from devstack.config import dump_resolved, load_stack, speccache
    from devstack.errors import ConfigError
    from devstack.spec import StackSpec

    try:
        spec = load_stack(cwd=root, environ={"HOME": str(root), "PATH": "/usr/bin:/bin"})
    except ConfigError as exc:
        lines = exc.render().splitlines()
        if len(lines) > 40 or max(map(len, lines)) > 500:  # 80 columns: 7 rows
            return "ConfigError longer than a screen"
        return None
    for svc in spec.services.values():
        exec_strings = [*svc.argv, str(svc.cwd), svc.setup or "", *svc.env, *svc.env.values()]
        if any("\0" in text for text in exec_strings):
            return "a NUL byte reaches the spec (exec refuses it at up)"
    dump_resolved(spec, environ={})
    data = json.loads(json.dumps(speccache.encode(StackSpec, spec)))
    if speccache.decode(StackSpec, data) != spec:
        return "the spec cache does not round-trip"
    return None


def fuzz(seconds: float, out: Path, seed: int, log: Callable[[str], None]) -> dict[str, str]:
    rng = random.Random(seed)
    corpus = seeds()
    found: dict[str, str] = {}  # reason -> file name (one input per distinct reason)
    runs = 0
    deadline = time.monotonic() + seconds
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.mkfifo(root / "fifo")
        (root / ".env").write_text("A=1\n")
        while time.monotonic() < deadline:
            text = rng.choice(corpus)
            for _ in range(rng.randint(1, 3)):
                pick = rng.random()
                mutate = mutate_key if pick < 0.4 else mutate_value if pick < 0.7 else mutate_text
                mutated = mutate(text, rng)
                text = mutated if mutated is not None else text
            runs += 1
            reason = run_one(text, root)
            if reason is None:
                if len(corpus) < 2000 and rng.random() < 0.05:
                    corpus.append(text)  # keep some survivors: mutations stack up
                continue
            if reason in found:
                continue
            digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
            name = f"fuzz-{digest[:12]}.toml"
            out.mkdir(parents=True, exist_ok=True)
            (out / name).write_text(f"# found by configfuzz: {reason}\n" + text, encoding="utf-8")
            found[reason] = name
            log(f"{runs} runs: {reason} -> {name}")
    log(f"{runs} runs, {len(found)} distinct failures")
    return found


def fuzz_check(count: int, seed: int, log: Callable[[str], None]) -> int:
    """`devstack check` (a subprocess) on ``count`` mutants that load: checks read the
    disk and run programs, so what the loader lets through must not break them."""
    import subprocess

    from devstack.config import load_stack
    from devstack.errors import ConfigError

    rng = random.Random(seed)
    corpus = seeds()
    broken = tried = 0
    while tried < count:
        text = rng.choice(corpus)
        for _ in range(rng.randint(1, 2)):
            text = mutate_key(text, rng) or text
        root = Path(tempfile.mkdtemp(prefix="configfuzz-"))
        os.mkfifo(root / "fifo")
        (root / ".env").write_text("A=1\n")
        (root / "stack.toml").write_text(text, encoding="utf-8")
        try:
            load_stack(cwd=root, environ=dict(os.environ))
        except ConfigError:
            shutil.rmtree(root)
            continue
        tried += 1
        done = subprocess.run(
            [sys.executable, "-m", "devstack", "check"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        if "Traceback" in done.stderr or done.returncode not in (0, 1, 2):
            broken += 1
            log(f"check exited {done.returncode} with a traceback: {root}/stack.toml")
        else:
            shutil.rmtree(root)
    log(f"{tried} stacks checked, {broken} broke `devstack check`")
    return broken


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--check", type=int, default=0, metavar="N", help="then `devstack check` N mutants"
    )
    args = parser.parse_args()
    sys.setrecursionlimit(1000)
    # An unbounded read (/dev/urandom as an env file) must end as a MemoryError, a
    # finding, not take the machine's memory.
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    soft = 2 * 2**30 if hard == resource.RLIM_INFINITY else min(2 * 2**30, hard)
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    fuzz(args.seconds, args.out, args.seed, lambda line: print(line, flush=True))
    if args.check:
        fuzz_check(args.check, args.seed, lambda line: print(line, flush=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
