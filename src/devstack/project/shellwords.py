"""A shell line's simple commands, as far as a word list tells them (no shell parser).

``(createdb app || true) && exec gunicorn app:app 2>&1`` gives [createdb, app], [true],
[gunicorn, app:app]: subshell parentheses, ``{ ...; }`` groups, ``!``, redirections,
``VAR=value`` assignments and ``exec``/``env``-like prefixes are not part of a program's
words. A word the splitter cannot read surely (``((`` arithmetic) drops its command.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

_SEPARATORS = frozenset({"&&", "||", ";", "|", "&", "{", "}"})
_PREFIXES = frozenset({"exec", "env", "nohup", "time", "nice", "command", "!"})
# `>`, `2>>`, `&>`, `<`: a redirection whose target is the next word ...
_REDIRECT = re.compile(r"^(\d*|&)(>>?|<<?|>&|<&|>\|)$")
# ... and one with its target attached (`2>/dev/null`, `>log`, `2>&1`).
_REDIRECT_WITH_TARGET = re.compile(r"^(\d*|&)(>>?|<<?|>&|<&|>\|)\S")


def simple_commands(argv: Sequence[str]) -> Iterator[list[str]]:
    """Each command of a shell line (split at && ; | ( ) { } ...), without VAR=value,
    redirections and ``exec``/``env``-like prefixes: ``cd web && exec pnpm dev`` gives
    [cd, web], [pnpm, dev]."""
    current: list[str] = []
    dropped = False  # this command holds a word not read surely: it is not yielded
    skip_target = False
    for raw in [*argv, ";"]:
        word, ends = _closing(raw)
        if skip_target:
            skip_target = False
        elif word in _SEPARATORS or (not current and word == "("):
            ends = True
        elif not current and word.startswith("(("):
            dropped = True  # arithmetic `(( ... ))`, not a program
        elif _REDIRECT.match(word):
            skip_target = True
        elif _REDIRECT_WITH_TARGET.match(word):
            pass
        elif not current and word.startswith("("):
            current.append(word.lstrip("("))  # `(createdb`: a subshell's first program
        elif word and (current or not ("=" in word.split("/", 1)[0] or word in _PREFIXES)):
            current.append(word)
        if ends:
            if current and not dropped:
                yield current
            current, dropped = [], False


def _closing(word: str) -> tuple[str, bool]:
    """``word`` without a closing ``)`` or ``;`` glued to it (``true)``, ``web;``), and
    whether it ended its command. A balanced ``$(date)`` is left whole."""
    ends = False
    while word.endswith(";") or (word.endswith(")") and word.count(")") > word.count("(")):
        word, ends = word[:-1], True
    return word, ends
