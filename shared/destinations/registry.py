"""The destinations by name: each a module of this package holding one ``Transform`` whose
``name`` is the module's (``shared.destinations.amplitude`` → ``AmplitudeTransform``). The
topology's ``DESTINATIONS`` lists the same names; a test keeps the two equal."""

from __future__ import annotations

import importlib
from functools import cache

from shared.destinations.framework import DestinationSettings, Transform
from shared.ports.clock import Clock
from shared.topology import DESTINATIONS


@cache
def transform_class(name: str) -> type[Transform]:
    if name not in DESTINATIONS:
        raise KeyError(f"no destination named {name!r}; known: {', '.join(DESTINATIONS)}")
    module = importlib.import_module(f"shared.destinations.{name}")
    for value in vars(module).values():
        is_transform = isinstance(value, type) and issubclass(value, Transform)
        if is_transform and value is not Transform and getattr(value, "name", None) == name:
            return value  # type: ignore[no-any-return]
    raise KeyError(f"shared.destinations.{name} holds no Transform named {name!r}")


def settings_of(name: str) -> DestinationSettings:
    """The destination's settings, from its ``CDP_<NAME>_*`` environment variables."""
    return transform_class(name).settings_class()


def build(name: str, clock: Clock, settings: DestinationSettings | None = None) -> Transform:
    cls = transform_class(name)
    return cls(settings if settings is not None else cls.settings_class(), clock)
