"""A small name -> object registry, the one kind of module-level state bnnas allows.

Models, quantizers, datasets and search-space ops are all looked up by name so that configs
and the command line can refer to them as plain strings (timm's ``register_model`` pattern).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from bnnas.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects; ``kind`` appears in error messages ("unknown model 'x'")."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str | None = None) -> Callable[[T], T]:
        """Decorator that stores the decorated object under ``name`` (default: its __name__)."""

        def decorate(obj: T) -> T:
            key = name if name is not None else obj.__name__
            if key in self._entries:
                raise ValueError(f"{self.kind} {key!r} is registered twice")
            self._entries[key] = obj
            return obj

        return decorate

    def get(self, name: str) -> T:
        """Return the object registered as ``name``, or raise a one-line error listing choices."""
        try:
            return self._entries[name]
        except KeyError:
            choices = ", ".join(sorted(self._entries)) or "(none registered)"
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; choose one of: {choices}"
            ) from None

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
