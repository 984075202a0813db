"""Name -> object registries (fvcore's ``Registry`` interface, plus registration under a name).

fvcore's public ``register`` only registers under ``obj.__name__``; datasets (``DatasetSpec``
instances), evaluators keyed by ``evaluator_type`` and the names the published configs use for
our components need an explicit name, which fvcore offers only through private members.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator

__all__ = ["Registry"]


class Registry:
    """A name -> object map that configs and metadata select entries from.

    ``register()`` as a decorator, or ``register(obj)``, registers under ``obj.__name__``;
    ``register(obj, name=...)`` (or ``register(name=...)`` as a decorator) under ``name``. An
    object may be registered under several names (e.g. the names of the original releases).
    Iterating yields ``(name, obj)`` pairs in registration order.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._entries: dict[str, Any] = {}

    def register(self, obj: Any = None, *, name: str | None = None) -> Any:
        """Register ``obj`` under ``name`` (default ``obj.__name__``) and return it.

        Raises:
            KeyError: the name is already registered.
        """
        if obj is None:
            return self._decorator(name)
        key = name if name is not None else obj.__name__
        if key in self._entries:
            raise KeyError(f"An object named '{key}' is already registered in the {self._name} registry")
        self._entries[key] = obj
        return obj

    def _decorator(self, name: str | None) -> Callable[[Any], Any]:
        def deco(obj: Any) -> Any:
            return self.register(obj, name=name)

        return deco

    def get(self, name: str) -> Any:
        """The object registered under ``name``.

        Raises:
            KeyError: nothing is registered under ``name``; the message lists what is.
        """
        if name not in self._entries:
            known = ", ".join(sorted(self._entries)) or "none"
            raise KeyError(f"No object named '{name}' in the {self._name} registry; registered: {known}")
        return self._entries[name]

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return iter(list(self._entries.items()))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self._name!r}: {', '.join(self._entries)})"
