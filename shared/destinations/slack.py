"""Slack incoming webhook: one message per event, from a template per event or audience.

``CDP_SLACK_TEMPLATES`` is a JSON object: a track event name, or an audience key, → a template
(its text, or ``{"text": ..., "when": {...}}``: a condition on the event's fields, e.g. the
churn-risk alert for high-value members only; see ``slack_templates.py``). Audience changes are
track events ``Audience Entered`` / ``Audience Exited`` with ``properties.audience_key``; a
template keyed by that audience key applies to both (a template keyed ``Audience Entered`` to
every audience without its own). Until a template is configured Slack gets nothing: its default
filter is the template keys (and the audience events), tracks only, and events without a
template, or whose template's condition fails, are skipped with the reason.

Templates are rendered by ``render``, not ``str.format``: a ``{placeholder}`` is looked up in a
flat dict of the event's fields (``userId``, ``anonymousId``, ``event``, ``type``,
``messageId``, ``timestamp``, ``profileId``, ``properties.x``, ``traits.x``, nested keys
joined by dots), so no attribute access, indexing or format spec can run; a missing
placeholder renders empty; ``{{`` and ``}}`` are literal braces. Values are escaped as Slack
asks (``&``, ``<``, ``>``), so an event cannot mention ``<!channel>`` or hide a link: only the
template, written by an operator, can.

Slack takes about one message per second per webhook (``min_interval_seconds``); its errors
are text bodies (``invalid_payload``, ``no_text``, ``channel_not_found``, ``channel_is_archived``,
``action_prohibited``, ``no_service``, ...), each permanent but ``rate_limited`` (429, with
Retry-After) and ``rollup_error`` (500). Slack cannot dedupe: the runner's ledger does.
``CDP_SLACK_WEBHOOK_URL`` is a secret (the URL is the credential); it never appears in a reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, cast

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from shared.destinations.delivery import Outcome
from shared.destinations.framework import (
    DestinationSettings,
    Event,
    Person,
    Prepared,
    Request,
    Transform,
    Verdict,
    default_verdict,
)
from shared.destinations.slack_templates import AUDIENCE_EVENTS as AUDIENCE_EVENTS
from shared.destinations.slack_templates import Template, template_for, unmet
from shared.ports.http import HttpResponse

MESSAGE_ID_HEADER = "X-CDP-Message-Id"
MAX_TEXT = 40_000  # Slack truncates longer messages
MAX_SECTION = 3_000  # characters of a section block's text
MAX_BLOCKS = 50
TOP_FIELDS = ("userId", "anonymousId", "event", "type", "messageId", "timestamp")
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z0-9_.$@-]+)\}")
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}

NO_TEMPLATE = "no Slack template for {what}"
EMPTY_MESSAGE = "the template {key!r} rendered an empty message"
ERRORS = {  # Slack's incoming-webhook error bodies that retrying cannot fix
    "invalid_payload": "the body is not a valid message",
    "no_text": "the message has no text",
    "missing_text_or_fallback_or_attachments": "the message has no text",
    "invalid_blocks": "a block is invalid",
    "invalid_blocks_format": "blocks is not a list of blocks",
    "too_many_attachments": "too many attachments",
    "msg_too_long": "the message is too long",
    "user_not_found": "the user does not exist",
    "channel_not_found": "the webhook's channel does not exist",
    "channel_is_archived": "the webhook's channel is archived",
    "action_prohibited": "the workspace restricts this webhook",
    "posting_to_general_channel_denied": "only admins may post to this channel",
    "no_service": "the webhook is disabled, removed or invalid",
    "no_service_id": "the webhook URL has no service id",
    "no_team": "the workspace does not exist or was deleted",
    "team_disabled": "the workspace is disabled",
    "invalid_token": "the webhook's token is invalid",
}


class SlackSettings(DestinationSettings):
    model_config = SettingsConfigDict(env_prefix="CDP_SLACK_", extra="ignore")

    webhook_url: str = Field(default="", repr=False)
    templates: dict[str, Template] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _default_events(self) -> SlackSettings:
        """Only what a template names (audience changes included) passes the filter."""
        if self.events is None and self.templates:
            self.events = [*self.templates, *AUDIENCE_EVENTS]
        return self


def _text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return ", ".join(str(v) for v in value)
    return None


def _flatten(into: dict[str, str], prefix: str, value: Any, depth: int = 0) -> None:
    if isinstance(value, Mapping):
        if depth < 4:
            for key, inner in value.items():
                _flatten(into, f"{prefix}.{key}", inner, depth + 1)
        return
    text = _text(value)
    if text is not None:
        into[prefix] = text


def fields_of(event: Event, person: Person) -> dict[str, str]:
    """Every value a template may name, flat: nothing but strings to look up."""
    found: dict[str, str] = {}
    for name in TOP_FIELDS:
        _flatten(found, name, event.get(name))
    if person.profile_id:
        found["profileId"] = person.profile_id
    _flatten(found, "properties", event.get("properties") or {})
    context = event.get("context") or {}
    traits = {**person.traits, **(context.get("traits") or {}), **(event.get("traits") or {})}
    _flatten(found, "traits", traits)
    return found


def escape(text: str) -> str:
    return "".join(_ESCAPES.get(c, c) for c in text)


def render(template: str, fields: Mapping[str, str]) -> str:
    """``template`` with each ``{name}`` replaced by ``fields[name]`` escaped, or by nothing."""

    def one(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        return escape(fields.get(match.group(1), ""))

    return _PLACEHOLDER.sub(one, template)


def _cut(text: str, size: int) -> int:
    """Where to cut ``text`` at most ``size`` in: a line end near it if any, never inside an
    ``&..;`` escape."""
    cut = text.rfind("\n", max(size - 500, 1), size + 1)
    cut = cut if cut > 0 else size
    amp = text.rfind("&", max(cut - 5, 0), cut)
    return amp if amp > 0 and ";" not in text[amp:cut] else cut


def message(text: str) -> dict[str, Any]:
    """Slack's body: ``text`` (≤ 40,000 characters, the notification) and the same text in
    section blocks of ≤ 3,000 characters (≤ 50 blocks, else text alone)."""
    if len(text) > MAX_TEXT:
        text = text[: _cut(text, MAX_TEXT - 1)] + "…"
    pieces, rest = [], text
    while len(rest) > MAX_SECTION:
        cut = _cut(rest, MAX_SECTION)
        pieces.append(rest[:cut])
        rest = rest[cut:].lstrip("\n")
    pieces.append(rest)
    body: dict[str, Any] = {"text": text}
    if len(pieces) <= MAX_BLOCKS:
        body["blocks"] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": p}} for p in pieces if p.strip()
        ]
    return body


class SlackTransform(Transform):
    name: ClassVar[str] = "slack"
    settings_class: ClassVar[type[DestinationSettings]] = SlackSettings
    event_types: ClassVar[tuple[str, ...]] = ("track",)
    consent_category: ClassVar[str] = "functional"
    provider_dedup: ClassVar[bool] = False
    min_interval_seconds: ClassVar[float] = 1.0

    @property
    def _settings(self) -> SlackSettings:
        return cast(SlackSettings, self.settings)

    def missing(self) -> list[str]:
        s = self._settings
        needed = (("CDP_SLACK_WEBHOOK_URL", s.webhook_url), ("CDP_SLACK_TEMPLATES", s.templates))
        return [name for name, value in needed if not value]

    def prepare(self, events: Sequence[Event], people: Sequence[Person]) -> Prepared:
        out = Prepared()
        for event, person in zip(events, people, strict=True):
            mid = str(event.get("messageId") or "")
            found = template_for(event, self._settings.templates)
            if found is None:
                what = (event.get("properties") or {}).get("audience_key") or event.get("event")
                out.skipped[mid] = NO_TEMPLATE.format(what=what or event.get("type"))
                continue
            key, template = found
            why = unmet(key, template, event, person)
            if why:
                out.skipped[mid] = why
                continue
            text = render(template.text, fields_of(event, person)).strip()
            if not text:
                out.refused[mid] = EMPTY_MESSAGE.format(key=key)
                continue
            body = json.dumps(message(text), ensure_ascii=False).encode("utf-8")
            headers = {"Content-Type": "application/json; charset=utf-8", MESSAGE_ID_HEADER: mid}
            out.requests.append(Request("POST", self._settings.webhook_url, headers, body, (mid,)))
        return out

    def verdict(self, request: Request, response: HttpResponse) -> Verdict:
        """Slack's answer is a word in a text body; the word decides, then the status."""
        code = response.body.decode(errors="replace").strip()
        if 200 <= response.status < 300:
            return Verdict(Outcome.SENT)
        found = default_verdict(response)
        if response.status == 429 or code == "rate_limited":
            reason = f"slack answered {response.status} rate_limited"
            return Verdict(Outcome.RETRY, reason, retry_after_seconds=found.retry_after_seconds)
        if code in ERRORS:
            reason = f"slack answered {response.status} {code}: {ERRORS[code]}"
            return Verdict(Outcome.PERMANENT, reason)
        return Verdict(found.outcome, f"slack answered {response.status}: {code[:200]!r}")
