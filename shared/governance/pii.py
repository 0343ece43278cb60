"""The PII guard: card numbers, IBANs, bank account numbers and national ids never leave
ingest as they came in.

Every event passes ``PiiGuard.inspect`` after ingest's checks and before anything is published,
so nothing detected reaches Pub/Sub, BigQuery, Firestore, a destination or the failed-events
store unredacted. Per class the plan's ``pii:`` section picks a policy:

- ``redact``: the number becomes ``****1234`` (its last 4); inside free text only the number.
- ``hash``: ``hmac:<hex>``, HMAC-SHA256 of the number's compact form keyed with
  ``CDP_PII_HASH_KEY``, so equal numbers still join. Plain SHA-256 of a card number can be
  brute-forced (the space is ~10^9 per IIN), so without a key ``hash`` redacts instead.
- ``block``: the event goes to the failed-events store (finding ``pii_<class>``), its numbers
  redacted there too.

Identifier values (``userId``, ``anonymousId``, ``previousId``, ``groupId``,
``context.externalIds[].id``) are scanned like any other value; when their class redacts and a
key is set they are hashed instead, so two people's ids never collapse into one ``****1234``
profile.

It runs on every event, so the usual clean event costs a pre-scan of the JSON text ingest
already wrote (``text``; see ``pii_prescan``): a few C-speed passes, no walk. The structure is
walked only when a candidate there passes its validator. ``scrub`` masks everything whatever
the policy, for failed-event payloads and logs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.governance.pii_keywords import DEFAULT_KEYWORDS
from shared.governance.pii_prescan import Prescan
from shared.governance.pii_scan import CLASSES, Scanner

Policy = Literal["redact", "hash", "block"]
MASK = "****"
HASH_PREFIX = "hmac:"
IDENTIFIER_PATHS = frozenset({"userId", "anonymousId", "previousId", "groupId"})
_EXTERNAL_ID = re.compile(r"context\.externalIds\[[0-9]+\]\.id")


class ClassConfig(BaseModel):
    """One class's policy; ``keywords`` (gated classes only) replaces the default list."""

    model_config = ConfigDict(extra="forbid")
    policy: Policy
    keywords: tuple[str, ...] | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"policy": value} if isinstance(value, str) else value


class PiiConfig(BaseModel):
    """The plan's ``pii:`` section. Every key optional: ``{}`` is the defaults."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    card: ClassConfig = Field(default_factory=lambda: ClassConfig(policy="redact"))
    iban: ClassConfig = Field(default_factory=lambda: ClassConfig(policy="redact"))
    bank_account: ClassConfig = Field(default_factory=lambda: ClassConfig(policy="redact"))
    national_id: ClassConfig = Field(default_factory=lambda: ClassConfig(policy="block"))

    @model_validator(mode="after")
    def _keywords_only_where_gated(self) -> PiiConfig:
        for name in ("card", "iban"):
            if getattr(self, name).keywords is not None:
                raise ValueError(f"pii.{name}: no keywords (its numbers carry their own check)")
        return self

    def policy(self, cls: str) -> Policy:
        config: ClassConfig = getattr(self, cls)
        return config.policy

    def keywords(self) -> dict[str, tuple[str, ...]]:
        """Keyword lists of the gated classes, the defaults where the plan names none."""
        out: dict[str, tuple[str, ...]] = {}
        for cls, default in DEFAULT_KEYWORDS.items():
            chosen: tuple[str, ...] | None = getattr(self, cls).keywords
            out[cls] = default if chosen is None else chosen
        return out


@dataclass(frozen=True)
class Detection:
    """What was found and where (``properties.note``, ``context.externalIds[0].id``); never the
    value itself, so a detection can be logged and stored."""

    cls: str
    path: str


@dataclass(frozen=True)
class PiiResult:
    """``event`` is the given object when nothing was found, else a changed copy (on block:
    with every detected number redacted, fit for the failed-events store)."""

    event: dict[str, Any]
    detections: tuple[Detection, ...]
    blocked: bool


def _key_bytes(hash_key: str) -> bytes:
    """A hex key is used as its bytes, any other string as its UTF-8."""
    try:
        return bytes.fromhex(hash_key)
    except ValueError:
        return hash_key.encode()


def mask(value: str) -> str:
    """The redaction mask: ``****`` and the last 4 characters of the compact number."""
    return MASK + value[-4:]


class PiiGuard:
    """Inspects events against one ``PiiConfig`` (build once per plan, reuse for every event)."""

    def __init__(self, config: PiiConfig, hash_key: str) -> None:
        self.config = config
        self._key = _key_bytes(hash_key) if hash_key else b""
        keywords = config.keywords()
        self._scanner = Scanner(keywords)
        self._policies = {cls: self._effective(config.policy(cls)) for cls in CLASSES}
        self._prescan = Prescan(self._scanner, keywords)

    def _effective(self, policy: Policy) -> Policy:
        return "redact" if policy == "hash" and not self._key else policy

    def _hash(self, value: str) -> str:
        return HASH_PREFIX + hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()

    def inspect(self, event: dict[str, Any], text: bytes | None = None) -> PiiResult:
        """Detect and apply the policies. ``text``: the event already serialised as JSON."""
        if not self.config.enabled:
            return PiiResult(event, (), False)
        if text is None:
            text = json.dumps(event, separators=(",", ":"), default=str).encode()
        if not self._prescan.candidate(text):
            return PiiResult(event, (), False)
        found: list[tuple[str, str]] = []

        def rewrite(cls: str, value: str, path: str) -> str:
            found.append((cls, path))
            policy = self._policies[cls]
            if policy == "redact" and self._key and _is_identifier(path):
                policy = "hash"
            return self._hash(value) if policy == "hash" else mask(value)

        changed = self._scanner.walk(event, "", frozenset(), rewrite)
        if not found:
            return PiiResult(event, (), False)
        detections = tuple(Detection(cls, path) for cls, path in dict.fromkeys(found))
        blocked = any(self._policies[d.cls] == "block" for d in detections)
        return PiiResult(changed, detections, blocked)

    def clear(self, text: bytes) -> bool:
        """Whether JSON ``text`` certainly holds nothing to detect: ingest asks it of a whole
        request body once, so a clean batch costs one pre-scan, not one per event."""
        return not self.config.enabled or not self._prescan.candidate(text)

    def scrub(self, value: Any) -> Any:
        """``value`` (an event, a payload, a string, JSON bytes) with every detection masked
        whatever the policy: for the failed-events store and anything logged."""
        if isinstance(value, (bytes, bytearray)):
            text = bytes(value).decode("utf-8", "replace")
            return self._scanner.walk(text, "", frozenset(), _mask_rewrite).encode()
        return self._scanner.walk(value, "", frozenset(), _mask_rewrite)


def _mask_rewrite(cls: str, value: str, path: str) -> str:
    return mask(value)


def _is_identifier(path: str) -> bool:
    return path in IDENTIFIER_PATHS or bool(_EXTERNAL_ID.fullmatch(path))
