"""The value checks of stack.toml that a type alone cannot say, for the models'
validators: each takes the raw TOML value and returns it (or what it means), or
raises ValueError with the message the user sees."""

from __future__ import annotations

import re
import signal
import warnings
from typing import Any

from devstack.spec import MAX_REPLICAS

SIGNAL_NAMES = ("TERM", "INT", "QUIT", "KILL", "HUP", "USR1", "USR2")
IMPORT_PATTERN = r"^[A-Za-z_][\w.]*(:.+)?$"
PROFILE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"


def env_value(value: Any) -> Any:
    if isinstance(value, bool | int | float):
        text = str(value).lower() if isinstance(value, bool) else str(value)
        raise ValueError(f'must be a string; quote it: "{text}"')
    return value


def stop_signal(value: Any) -> signal.Signals:
    if isinstance(value, str):
        name = value.upper()
        name = name[3:] if name.startswith("SIG") else name
        if name in SIGNAL_NAMES:
            return signal.Signals[f"SIG{name}"]
    raise ValueError(f"{value!r} is not a stop signal; use one of: {', '.join(SIGNAL_NAMES)}")


def profile_name(value: Any) -> Any:
    if isinstance(value, str) and not re.fullmatch(PROFILE_PATTERN, value):
        raise ValueError(
            f"{value!r} is not a profile name: letters, digits, - and _, "
            "starting with a letter or digit"
        )
    return value


def replica_count(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ValueError(
                f"replicas = {value}: a service runs at least 1 copy "
                "(to not start it, give it profiles)"
            )
        if value > MAX_REPLICAS:
            raise ValueError(
                f"replicas = {value}: at most {MAX_REPLICAS} copies "
                "(each is a process and a port of its own)"
            )
    return value


def regex(value: Any) -> Any:
    if isinstance(value, str):
        try:
            with warnings.catch_warnings():
                # "[[" and the like: a FutureWarning about a later Python, not a problem here.
                warnings.simplefilter("ignore", FutureWarning)
                re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        except (RecursionError, OverflowError):
            # re's parser recurses per group: "((((...a))))" a thousand deep.
            raise ValueError("the regular expression is nested or repeated too deeply") from None
    return value


def command(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise ValueError("cmd is empty")
    if isinstance(value, list) and not value:
        raise ValueError("cmd is an empty list")
    if isinstance(value, list) and all(isinstance(v, str) for v in value) and not value[0]:
        raise ValueError("cmd starts with an empty program name")
    return value


def import_switch(value: Any) -> Any:
    if value is True:
        raise ValueError('the import check is on by default; give "module:attr", or false')
    if type(value) in (int, float):  # Literal[False] would take 0 (0 == False)
        raise ValueError(f'expected "module:attr" or false, got {value!r}')
    return value


def setup_line(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise ValueError("setup is empty; remove the key to have no setup step")
    return value


def relative_glob(value: Any) -> Any:
    if isinstance(value, str):
        if not value.strip():
            raise ValueError("an empty pattern")
        if value.startswith(("/", "~")):
            raise ValueError(f"{value!r} is not relative; patterns are relative to the cwd")
    return value


def status_list(value: Any) -> Any:
    # expect_status = 201 means [201]; the list form is what the rest of devstack reads.
    return [value] if isinstance(value, int) and not isinstance(value, bool) else value
