"""What a destination is: a pure transform (Segment events → the provider's requests) plus the
shared delivery path every destination takes (``runner.py``).

A provider module (``amplitude.py``, ``meta.py``, ...) holds three things:

- a ``DestinationSettings`` subclass, read from ``CDP_<NAME>_*`` (its base URL from
  ``CDP_<NAME>_ENDPOINT``, its credentials, filters, consent category, back-fill opt-in);
- a ``Transform`` subclass: ``prepare`` turns the events of one message (each with the person
  identity resolved it to) into HTTP requests, without I/O; ``verdict`` reads the provider's
  answer to one request (a 400 that names some events refuses those only);
- its entry in ``registry.py``.

The runner does the rest for all of them: the event filter and the person's consent, the
delivery rule (2xx sent, 408/429/5xx retried by Pub/Sub for hours, other 4xx refused and
recorded as failed events), the ledger for providers that cannot dedupe, pacing, reports.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.destinations.delivery import Outcome, outcome
from shared.ports.clock import Clock
from shared.ports.http import HttpResponse

Event = dict[str, Any]


def _names(value: Any) -> Any:
    """A list setting from the environment: comma-separated or a JSON list."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class DestinationSettings(BaseSettings):
    """Settings every destination has; a subclass sets ``env_prefix="CDP_<NAME>_"`` and adds its
    own (credentials as ``Field(repr=False)``: never logged). ``None`` filters take the
    transform's defaults."""

    model_config = SettingsConfigDict(extra="ignore")

    endpoint: str = ""
    event_types: list[str] | None = None  # Segment call types; [] = every type
    events: list[str] | None = None  # track names (and audience keys); [] = every name
    audiences: list[str] | None = None  # set: the only audience keys whose events it takes
    consent_category: str | None = None  # e.g. "advertising"; "" = no consent check
    backfill: bool = False  # opt in: promoted ids' pre-promotion journeys too
    timeout_seconds: float = 10.0

    @field_validator("event_types", "events", "audiences", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _names(value)


@dataclass(frozen=True)
class Person:
    """Who identity resolved an event to, as destinations need it: consent per category (the
    profile's, merged with the event's own), the profile's latest trait values."""

    profile_id: str | None = None
    consent: Mapping[str, bool] = field(default_factory=dict)
    traits: Mapping[str, Any] = field(default_factory=dict)


NOBODY = Person()


@dataclass(frozen=True)
class Origin:
    """The message the events came in, for the few transforms whose requests name it."""

    message_id: str = ""
    kind: str = "events"  # or "backfill"
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    message_ids: tuple[str, ...]  # the events it carries (Segment messageId), in order


@dataclass
class Prepared:
    requests: list[Request] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # messageId → why not for this provider
    refused: dict[str, str] = field(default_factory=dict)  # messageId → why it can never be sent


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str = ""
    refused: Mapping[str, str] = field(default_factory=dict)  # events refused inside the answer
    retry_after_seconds: float | None = None


def default_verdict(response: HttpResponse) -> Verdict:
    found = outcome(response.status)
    reason = "" if found is Outcome.SENT else f"answered {response.status}: {response.body[:300]!r}"
    retry_after = _retry_after(response.headers)
    return Verdict(found, reason, retry_after_seconds=retry_after)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return float(value)
            except ValueError:
                return None
    return None


class Transform(abc.ABC):
    """One provider's contract. Class attributes are its defaults and its nature."""

    name: ClassVar[str]
    settings_class: ClassVar[type[DestinationSettings]]
    event_types: ClassVar[tuple[str, ...]] = ("track", "identify", "page", "screen", "group")
    events: ClassVar[tuple[str, ...]] = ()
    consent_category: ClassVar[str] = ""
    provider_dedup: ClassVar[bool] = False  # True: the provider dedupes on a key we send
    min_interval_seconds: ClassVar[float] = 0.0  # pace between requests (Slack: 1 s)

    def __init__(self, settings: DestinationSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock

    def missing(self) -> list[str]:
        """The settings it cannot work without that are empty (the environment's names)."""
        return []

    @abc.abstractmethod
    def prepare(self, events: Sequence[Event], people: Sequence[Person]) -> Prepared:
        """Requests for ``events`` (already filtered; ``people[i]`` is ``events[i]``'s person).
        Pure: the same input gives the same requests."""

    def prepare_message(
        self, origin: Origin, events: Sequence[Event], people: Sequence[Person]
    ) -> Prepared:
        """What the runner calls: ``prepare``, unless the requests must name their message."""
        return self.prepare(events, people)

    def verdict(self, request: Request, response: HttpResponse) -> Verdict:
        return default_verdict(response)

    def follow_up(self, request: Request, response: HttpResponse) -> Request | None:
        """A request the answer to a sent one calls for (Intercom: the contact it ensured,
        then its update); None: the chain is done. Sent in order; the last verdict counts."""
        return None

    def remainder(self, request: Request, refused: Mapping[str, str]) -> Request | None:
        """Where a provider refused a whole request for some of its events (Amplitude's 400
        names them), the same request without those, sent once more; None: nothing to send."""
        return None
