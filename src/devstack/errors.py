"""The error tree. Raised deep, caught once in ``cli.main()``, printed as one screen.

    DevstackError            message + hint, exit code 1
    ├── UsageError           bad command-line use, exit 2
    ├── ConfigError          stack.toml / Procfile / .env is wrong, exit 2
    │                        (carries the file, the line and the key path)
    └── NoStackRunning       a client command found no supervisor, exit 3

Every message says the thing, what was seen and, in ``hint``, what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike

StrPath = str | PathLike[str]  # a file or directory

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NO_STACK = 3
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader of stdout went away (`| head`)


class DevstackError(Exception):
    """Base of every error devstack reports to the user."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        text = f"error: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class UsageError(DevstackError):
    """The command line asks for something that cannot be done."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong with a config file: where it is and what to do."""

    file: StrPath | None
    line: int | None
    key_path: str | None  # "services.backend.health.interval"
    message: str
    hint: str | None = None

    def render(self) -> str:
        where = ""
        if self.file is not None:
            where = str(self.file)
            if self.line is not None:
                where += f":{self.line}"
        head = where
        if self.key_path:
            key = _clip(self.key_path, 100)
            head = f"{head} {key}" if head else key
        # A key or value echoed here may be thousands of characters: keep to one screen.
        message = _clip(self.message, 240)
        text = f"{head}: {message}" if head else message
        if self.hint:
            text += f"\n    hint: {_clip(self.hint, 400)}"  # room for every key of a service
        return text


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


class ConfigError(DevstackError):
    """The stack definition is invalid; nothing was started."""

    exit_code = EXIT_USAGE

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        first = problems[0].render() if problems else "invalid configuration"
        super().__init__(first)

    @classmethod
    def one(
        cls,
        message: str,
        *,
        file: StrPath | None = None,
        line: int | None = None,
        key_path: str | None = None,
        hint: str | None = None,
    ) -> ConfigError:
        return cls([ConfigProblem(file, line, key_path, message, hint)])

    def render(self) -> str:
        # At most 12 problems: the error must fit one screen.
        shown = self.problems[:12]
        noun = "problem" if len(self.problems) == 1 else "problems"
        lines = [f"error: invalid configuration ({len(self.problems)} {noun}); nothing was started"]
        lines += [f"  {p.render()}" for p in shown]
        if len(self.problems) > len(shown):
            lines.append(f"  ... and {len(self.problems) - len(shown)} more")
        return "\n".join(lines)


class NoStackRunning(DevstackError):
    """A client command found no running supervisor for this directory."""

    exit_code = EXIT_NO_STACK

    def __init__(self, directory: StrPath) -> None:
        super().__init__(f"no stack is running in {directory}", hint="start one with: devstack up")
