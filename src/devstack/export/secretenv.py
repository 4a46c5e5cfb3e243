"""Which environment variables an export treats as secrets (their values never written).

The rule (docs/interop.md, "Secrets"), first match wins:

1. A name a browser bundle exposes (``NEXT_PUBLIC_*``, ``VITE_*``, ``REACT_APP_*``,
   ``PUBLIC_*``) is not a secret: the frontend ships its value to every visitor.
2. A name that is, or ends in ``_`` + one of PASSWORD, PASSWD, PASS, SECRET, TOKEN,
   KEY, APIKEY, CREDENTIALS, PRIVATE (case-insensitive): ``DB_PASSWORD``,
   ``SECRET_KEY``, ``GITHUB_TOKEN``, ``AWS_SECRET_ACCESS_KEY``.
3. A value holding a URL with a password (``scheme://user:password@host``):
   ``DATABASE_URL=postgres://app:s3cret@db/app``, ``CELERY_BROKER_URL=amqp://u:p@mq``.

A false positive costs one value to supply at deploy time; a miss puts a secret in a
file the user may commit, so the rule leans towards "secret".
"""

from __future__ import annotations

import re

NAMED = "the name ends in"  # how a reason from the name (rule 2) begins
_BROWSER_PREFIXES = ("NEXT_PUBLIC_", "VITE_", "REACT_APP_", "PUBLIC_")
_WORDS = (
    "PASSWORD",
    "PASSWD",
    "PASS",
    "SECRET",
    "TOKEN",
    "KEY",
    "APIKEY",
    "CREDENTIALS",
    "PRIVATE",
)
# scheme://user:password@ (an empty user, as in redis://:pw@host, counts: pw is after ':')
_URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^/@\s:]*:)([^/@\s]+)(@)")


def secret_reason(name: str, value: str) -> str | None:
    """Why ``name=value`` is a secret under the module's rule, or None when it is not."""
    upper = name.upper()
    if upper.startswith(_BROWSER_PREFIXES):
        return None
    for word in _WORDS:
        if upper == word or upper.endswith(f"_{word}"):
            return f"{NAMED} {word}"
    if _URL_PASSWORD.search(value):
        return "the value is a URL with a password"
    return None


def mask_passwords(value: str, mask: str = "<password>") -> str:
    """``value`` with the password of each URL in it replaced by ``mask`` (one that is
    already a placeholder, ``<NAME>``, is kept)."""

    def masked(m: re.Match[str]) -> str:
        kept = m[2].startswith("<") and m[2].endswith(">")
        return m[0] if kept else f"{m[1]}{mask}{m[3]}"

    return _URL_PASSWORD.sub(masked, value)
