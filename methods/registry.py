"""A name -> object registry, one per kind (methods, solvers, datasets, metrics).

Registration refuses duplicate names; lookup of an unknown name raises an error that
lists every valid name, so a typo on the command line tells the user what to type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """An unknown registry key; the message names the kind and lists the valid keys."""

    def __init__(self, kind: str, name: object, valid: list[str]) -> None:
        self.kind, self.name, self.valid = kind, name, valid
        super().__init__(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(valid)}")

    def __str__(self) -> str:
        return self.args[0]


BUILT_IN = "built-in"
"""The origin of the names blendbench itself registers."""


class Registry(Generic[T]):
    """An ordered mapping from short lowercase names to objects of one kind, each with its origin."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._origins: dict[str, str] = {}

    def add(self, name: str, item: T, origin: str = BUILT_IN) -> T:
        """Register `item` as `name`; origin says where it came from (recorded in every row)."""
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered ({self._origins[name]})")
        if name != name.lower() or " " in name:
            raise ValueError(f"{self.kind} names are lowercase without spaces, got {name!r}")
        self._items[name] = item
        self._origins[name] = origin
        return item

    def origin(self, name: str) -> str:
        """Where `name` came from: "built-in", or the plugin that registered it."""
        self.get(name)  # an unknown name: the error that lists the valid ones
        return self._origins[name]

    def snapshot(self) -> tuple[dict[str, T], dict[str, str]]:
        """The registry's contents, to `restore` later (plugin loading is all or nothing)."""
        return dict(self._items), dict(self._origins)

    def restore(self, snapshot: tuple[dict[str, T], dict[str, str]]) -> None:
        """Put back what `snapshot` returned: names added since are gone."""
        self._items, self._origins = dict(snapshot[0]), dict(snapshot[1])

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of `add`."""
        return lambda item: self.add(name, item)

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise UnknownNameError(self.kind, name, self.names()) from None

    def names(self) -> list[str]:
        return list(self._items)

    def items(self) -> Iterator[tuple[str, T]]:
        return iter(self._items.items())

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __len__(self) -> int:
        return len(self._items)
