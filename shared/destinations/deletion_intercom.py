"""Intercom: find the person's contacts, then ``DELETE /contacts/{id}`` each.

Intercom names contacts by its own ids, and the delivery path creates them by ``external_id``
(the userId) or, without one, by email; leads may exist by email too. So the person's contacts
are found with the Search API, ``POST /contacts/search`` with ``external_id = <user id>`` and
``email = <email>`` filters joined by ``OR`` (Intercom allows 15 filters per group; one search
per 15), ``pagination.per_page`` 150, and each one found is deleted. Every request carries the
bearer token and the ``Intercom-Version`` the delivery path uses.

A contact not found (nothing matches, or the delete answers 404 because it is already gone) is
no error: the outcome is ``done`` once no contact of the person is left. Deleting is permanent
in Intercom (its conversations stay, without the contact), so ``done``, not ``requested``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from shared.destinations.deletion import (
    DONE,
    UNSUPPORTED,
    DeletionOutcome,
    DeletionSettings,
    HttpClient,
    call,
    chunks,
    combined,
    values,
)
from shared.destinations.delivery import json_object
from shared.destinations.intercom import IntercomSettings
from shared.ports.clock import Clock
from shared.ports.http import HttpRequest
from shared.settings import Settings

MAX_FILTERS = 15  # per AND/OR group
PER_PAGE = 150
MAX_ROUNDS = 5  # searches per group while more contacts match than a page holds
FIELDS = (("external_id", ("user_id",)), ("email", ("email",)))

NO_TOKEN = "CDP_INTERCOM_ACCESS_TOKEN is needed for deletion"
NOTHING = "no Intercom contact of the person"


class IntercomDeleter:
    name = "intercom"

    def __init__(self, settings: IntercomSettings, deletion: DeletionSettings) -> None:
        self.settings, self.deletion = settings, deletion
        self.base = settings.endpoint.rstrip("/")

    def delete(self, identifiers: Mapping[str, Sequence[str]], http: HttpClient) -> DeletionOutcome:
        if not self.settings.access_token:
            return DeletionOutcome(self.name, UNSUPPORTED, NO_TOKEN)
        filters = [{"field": field, "operator": "=", "value": value}
                   for field, types in FIELDS for value in values(identifiers, *types)]  # fmt: skip
        if not filters:
            return DeletionOutcome(self.name, DONE, NOTHING)
        parts: list[DeletionOutcome] = []
        deleted: set[str] = set()
        for group in chunks(filters, MAX_FILTERS):
            parts += self._group(group, identifiers, http, deleted)
        if any(p.status != DONE for p in parts):
            return combined(self.name, [p for p in parts if p.status != DONE])
        detail = f"{len(deleted)} Intercom contacts deleted" if deleted else NOTHING
        return DeletionOutcome(self.name, DONE, detail)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.access_token}",
                "Intercom-Version": self.settings.version, "Accept": "application/json",
                "Content-Type": "application/json"}  # fmt: skip

    def _group(
        self, filters: list[dict[str, Any]], identifiers: Mapping[str, Sequence[str]],
        http: HttpClient, deleted: set[str],
    ) -> list[DeletionOutcome]:  # fmt: skip
        """Search with one group of filters and delete what it finds, again while a search
        reports more matches than its page held."""
        query = filters[0] if len(filters) == 1 else {"operator": "OR", "value": filters}
        body = json.dumps({"query": query, "pagination": {"per_page": PER_PAGE}}).encode()
        parts: list[DeletionOutcome] = []
        for _ in range(MAX_ROUNDS):
            request = HttpRequest("POST", self.base + "/contacts/search", self._headers(), body,
                                  self.deletion.timeout_seconds)  # fmt: skip
            answer = call(http, request, self.name, identifiers, _message)
            if isinstance(answer, DeletionOutcome):
                return [*parts, answer]
            found = json_object(answer.body)
            ids = [i for i in _ids(found) if i not in deleted]
            for contact in ids:
                parts.append(self._delete(contact, identifiers, http))
                deleted.add(contact)
            total = found.get("total_count")
            if not ids or not isinstance(total, int) or total <= len(found.get("data") or []):
                break
        return parts

    def _delete(
        self, contact: str, identifiers: Mapping[str, Sequence[str]], http: HttpClient
    ) -> DeletionOutcome:
        url = f"{self.base}/contacts/{quote(contact, safe='')}"
        headers = {k: v for k, v in self._headers().items() if k != "Content-Type"}
        request = HttpRequest("DELETE", url, headers, b"", self.deletion.timeout_seconds)
        answer = call(http, request, self.name, identifiers, _message, accept=(404,))
        if isinstance(answer, DeletionOutcome):
            return answer
        return DeletionOutcome(self.name, DONE)  # deleted, or already gone (404)


def _ids(answer: Mapping[str, Any]) -> list[str]:
    return [str(c["id"]) for c in answer.get("data") or [] if isinstance(c, dict) and c.get("id")]


def _message(raw: bytes) -> str:
    errors = json_object(raw).get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("message") or errors[0].get("code") or "")
    return raw[:200].decode(errors="replace")


def deleter(
    name: str, settings: Settings, deletion: DeletionSettings, clock: Clock
) -> IntercomDeleter:
    return IntercomDeleter(IntercomSettings(), deletion)
