"""``${...}`` references: every form, escapes, and errors with did-you-mean."""

from __future__ import annotations

import pytest

from devstack.config.interpolate import Context, InterpolationError, ServiceRefs, interpolate

SERVICES = {
    "backend": ServiceRefs("backend", "127.0.0.1", 5000, "http://127.0.0.1:5000"),
    "frontend": ServiceRefs("frontend", "0.0.0.0", 3000, "http://127.0.0.1:3000"),
    "worker": ServiceRefs("worker", "127.0.0.1"),
}


def ctx(this: str = "frontend", **kw: object) -> Context:
    return Context(this, SERVICES, {"HOME": "/home/me", "EMPTY": ""}, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pnpm dev --port ${port}", "pnpm dev --port 3000"),
        ("${host}", "0.0.0.0"),
        ("${url}/x", "http://127.0.0.1:3000/x"),
        ("${name}", "frontend"),
        ("${services.backend.url}", "http://127.0.0.1:5000"),
        ("${services.backend.port}", "5000"),
        ("${services.backend.host}", "127.0.0.1"),
        ("${services.worker.name}", "worker"),
        ("${env:HOME}/x", "/home/me/x"),
        ("${env:EMPTY}", ""),
        ("${env:UNSET_VAR:-fallback}", "fallback"),
        ("${env:UNSET_VAR:-}", ""),
        ("${env:HOME:-ignored}", "/home/me"),
        ("$$", "$"),
        ("$${HOME}", "${HOME}"),
        ("$$PORT", "$PORT"),
        ("cost: $5 and $", "cost: $5 and $"),
        ("no refs", "no refs"),
        ("${port}${port}", "30003000"),
    ],
)
def test_resolves(text: str, expected: str) -> None:
    assert interpolate(text, ctx()) == expected


def test_values_are_not_reinterpolated() -> None:
    c = Context("a", {"a": ServiceRefs("a", "h")}, {"X": "${port}"})
    assert interpolate("${env:X}", c) == "${port}"


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        (
            "${services.backnd.url}",
            "unknown reference ${services.backnd.url}; did you mean ${services.backend.url}?",
            None,
        ),
        ("${services.backend.prot}", "did you mean ${services.backend.port}?", "url, port"),
        ("${services.zzz.url}", "no service is named 'zzz'", None),
        ("${prot}", "did you mean ${port}?", "${env:VAR}"),
        ("${PORT}", "${PORT} is not a devstack reference", "$${PORT}"),
        ("${DATABASE_URL}", "not a devstack reference", "${env:DATABASE_URL}"),
        ("${env:UNSET_VAR}", "UNSET_VAR is not set", "${env:UNSET_VAR:-default}"),
        ("$PORT", "$PORT is not expanded here", "${env:PORT}"),
        ("x ${port", "unterminated", None),
        ("${services.worker.port}", "service 'worker' has no port", "services.worker.port"),
        ("${services.worker.url}", "service 'worker' has no url", None),
    ],
)
def test_errors(text: str, message: str, hint: str | None) -> None:
    with pytest.raises(InterpolationError) as info:
        interpolate(text, ctx())
    assert message in info.value.message
    if hint is not None:
        assert info.value.hint is not None and hint in info.value.hint


def test_shell_passes_bare_vars_through() -> None:
    assert interpolate("echo $HOME $PORT ${port}", ctx(shell=True)) == "echo $HOME $PORT 3000"


def test_shell_still_rejects_braced_shell_vars() -> None:
    with pytest.raises(InterpolationError, match="not a devstack reference"):
        interpolate("echo ${PORT}", ctx(shell=True))


def test_url_cannot_refer_to_a_url() -> None:
    with pytest.raises(InterpolationError, match="a url cannot refer to a url"):
        interpolate("${services.backend.url}/api", ctx(urls_known=False))
    assert interpolate("http://${host}:${port}", ctx(urls_known=False)) == "http://0.0.0.0:3000"
