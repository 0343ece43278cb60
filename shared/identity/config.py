"""Merge rules as configuration: per identifier type, which values never link anything, how many
of them one profile may hold, and which type wins when two disagree.

The defaults follow the usual CDP practice (one userId per person, a handful of emails, any
number of anonymous ids); a deployment overrides them through ``CDP_IDENTITY`` (JSON).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator

# Values that SDKs and forms send when they have no real id: they must never join two people.
COMMON_BLOCKED = frozenset(
    {
        "",
        "null",
        "none",
        "nil",
        "undefined",
        "nan",
        "0",
        "-1",
        "anonymous",
        "unknown",
        "n/a",
        "[object object]",
        "00000000-0000-0000-0000-000000000000",
    }
)


class TypeRule(BaseModel):
    limit: int | None = None  # at most this many values per profile; None = unlimited
    blocked: list[str] = Field(default_factory=list)  # compared after normalisation


def _default_types() -> dict[str, TypeRule]:
    return {
        "user_id": TypeRule(limit=1),
        "email": TypeRule(limit=5, blocked=["test@test.com", "noreply@example.com"]),
        "phone": TypeRule(limit=5),
        "anonymous_id": TypeRule(),
        "device_id": TypeRule(limit=20),
        "advertising_id": TypeRule(limit=20),
        "ga_client_id": TypeRule(),
    }


class IdentityConfig(BaseModel):
    """``priority``: highest first. A type not listed ranks after every listed one, and
    custom ``context.externalIds`` types take the rule of ``default`` unless listed."""

    types: dict[str, TypeRule] = Field(default_factory=_default_types)
    default: TypeRule = Field(default_factory=TypeRule)
    priority: list[str] = Field(
        default_factory=lambda: [
            "user_id",
            "email",
            "phone",
            "advertising_id",
            "device_id",
            "ga_client_id",
            "anonymous_id",
        ]
    )
    # Device-like identifiers: one that two userIds each claim directly (a family tablet, a
    # shared browser) links neither of them, and no one else, from then on (``shared.py``).
    shared_types: list[str] = Field(
        default_factory=lambda: ["anonymous_id", "device_id", "advertising_id", "ga_client_id"]
    )
    phone_region: str = "US"  # region assumed for phone numbers written without a country code
    cache_size: int = 100_000  # identifiers remembered per instance (known users skip lookups)

    @field_validator("types", mode="before")
    @classmethod
    def _over_defaults(cls, value: Any) -> Any:
        """A deployment lists only the types it changes; the others keep their defaults."""
        if isinstance(value, dict):
            return {**_default_types(), **value}
        return value

    def rule(self, kind: str) -> TypeRule:
        return self.types.get(kind, self.default)

    def limit(self, kind: str) -> int | None:
        return self.rule(kind).limit

    def rank(self, kind: str) -> int:
        """Lower ranks first; unknown types after every known one, in name order."""
        try:
            return self.priority.index(kind)
        except ValueError:
            return len(self.priority)

    def is_blocked(self, kind: str, value: str) -> bool:
        lowered = value.strip().lower()
        if lowered in COMMON_BLOCKED or set(lowered) <= set("0-"):
            return True
        return lowered in {b.strip().lower() for b in self.rule(kind).blocked}
