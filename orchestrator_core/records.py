"""Plain data classes made at every start of ``orch``, without generated code.

A ``@dataclass`` writes its ``__init__``, ``__repr__``, ``__eq__`` (and, frozen, its
``__hash__``, ``__setattr__``, ``__delattr__``) as source text and compiles each at import:
~0.4 ms a class, paid by every ``orch`` process for each dataclass it imports. The classes
made while a recipe runs (writes, tasks, results) and while plugins load need only an
explicit ``__init__``; :class:`Record` gives them equality and a ``repr`` over their
``__slots__``, written once, that behave as a dataclass's do.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FrozenRecord", "Record"]


class Record:
    """Equality and ``repr`` over ``__slots__`` (in order), as an ``eq=True`` dataclass has them.

    Unhashable, as such a dataclass is; records pickle as slotted objects do (protocol 2 on).
    A class lists in ``_unequal`` the slots a dataclass would declare ``compare=False, repr=False``
    (line numbers kept for messages); one that keeps a ``__dict__`` names its ``_fields`` itself.
    """

    __slots__ = ()
    _unequal: tuple[str, ...] = ()
    _fields: tuple[str, ...] = ()  # what equality, hash and repr look at, in order

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_fields" not in cls.__dict__:
            cls._fields = tuple(name for name in cls.__slots__ if name not in cls._unequal)

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__qualname__}({fields})"


class FrozenRecord(Record):
    """A record never changed once made, so it hashes by its values (as a frozen dataclass does)."""

    __slots__ = ()

    def __hash__(self) -> int:
        return hash(self._values())

    def replace(self, **changes: Any) -> Any:
        """A copy with ``changes``, as ``dataclasses.replace`` makes one (``__init__`` takes each slot by name)."""
        fields = {name: getattr(self, name) for name in self.__slots__}
        unknown = changes.keys() - fields.keys()
        if unknown:
            raise TypeError(f"{type(self).__qualname__} has no field {sorted(unknown)[0]!r}")
        return type(self)(**{**fields, **changes})
