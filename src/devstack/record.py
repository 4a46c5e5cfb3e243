"""``Record``: a small value object for the modules every client command imports.

``dataclasses`` imports ``inspect`` (with ``ast``, ``dis``, ``tokenize``) and builds
each class with ``exec``: ~25 ms of the ~60 ms ``devstack ps`` may take. A record
lists its fields in ``__slots__`` (sorted: the order only shows in the repr), sets them
in its own typed ``__init__``, and gets equality, hashing and a repr from them here.
"""

from __future__ import annotations


class Record:
    __slots__: tuple[str, ...] = ()

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Record)
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"{type(self).__name__}({inner})"
