"""The custom data attributes an Intercom workspace is known to have, per model, for a short
while: without it every identify or group that sets custom attributes first lists all of the
workspace's attributes (a third request where two do, against Intercom's per-10-second limits).

Names come from listing answers (which replace what was known of the model), from successful
creations and from "You already have" answers; each is trusted for ``TTL_SECONDS`` (by the
injected clock's monotonic time), so an attribute archived in Intercom is noticed within minutes
at worst. A write Intercom refuses because an attribute "does not exist" forgets the model at
once, and the chain's message is retried: its next attempt lists again. One cache per transform,
i.e. per function instance, as clients are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from shared.ports.clock import Clock

TTL_SECONDS = 600.0
UNKNOWN_ATTRIBUTE = re.compile(r"[Cc]ustom attribute '?.*'? (does not exist|is not declared)")


@dataclass
class DeclaredAttributes:
    clock: Clock
    ttl_seconds: float = TTL_SECONDS
    _until: dict[str, dict[str, float]] = field(default_factory=dict)  # model → name → until

    def known(self, model: str, names: Iterable[str]) -> bool:
        """Whether every one of ``names`` is known to exist (and not for too long)."""
        now, held = self.clock.monotonic(), self._until.get(model, {})
        return all(held.get(name, now) > now for name in names)

    def listed(self, model: str, names: Iterable[str]) -> None:
        """A listing's answer: the model's attributes are these, now."""
        until = self.clock.monotonic() + self.ttl_seconds
        self._until[model] = dict.fromkeys(names, until)

    def exists(self, model: str, name: str) -> None:
        """A creation's answer (made, or already there)."""
        self._until.setdefault(model, {})[name] = self.clock.monotonic() + self.ttl_seconds

    def forget(self, model: str) -> None:
        self._until.pop(model, None)


def unknown_attribute(message: str) -> bool:
    """Whether Intercom refused a write for a custom attribute it does not have."""
    return UNKNOWN_ATTRIBUTE.search(message) is not None
