"""What operators ask of destinations: how each is doing, and its dead letters.

``status``: per destination (the enabled ones, and any that reported), from
``cdp_ops.deliveries`` (the last attempt of each message counts: events delivered, with what
earlier attempts delivered; filtered; refused) and the
dead-letter subscriptions (how many messages wait there); retried attempts; the age of the
oldest event whose message is still being retried.

Dead letters: each destination subscription ``S`` gives up to ``S-dead-letter``, a pull
subscription. ``replay`` publishes each dead message again on the topic it came from, marked
``replay_for=<destination>`` so only that destination takes it (the others acknowledge it
unread), then acknowledges the dead letter. The events keep their ``messageId`` and their
engaged message (``meta.source_message``): providers dedupe on their own keys, and for those
without one the destination's ledger knows what it already delivered.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.envelope import decode_push
from shared.errors import InvalidMessage, NotFound
from shared.ports.publisher import OutboundMessage, Publisher
from shared.ports.subscriber import Received, Subscriber
from shared.ports.warehouse import SqlRunner
from shared.settings import Settings
from shared.topology import DESTINATIONS, TOPOLOGY, Topology
from shared.warehouse.layers import DELIVERIES_TABLE, OPS

REPLAY_FOR = "replay_for"
PULL = 100  # messages per pull

STATUS_SQL = """
WITH last AS (
  SELECT *, ROW_NUMBER() OVER (
    PARTITION BY destination, source_message ORDER BY attempt_at DESC) AS n
  FROM `{deliveries}` WHERE attempt_at >= @since
)
SELECT destination,
  SUM(IF(n = 1, delivered + already_delivered, 0)) AS delivered,
  SUM(IF(n = 1, filtered + skipped, 0)) AS filtered,
  SUM(IF(n = 1, refused, 0)) AS refused,
  COUNTIF(outcome = 'retry') AS retried,
  MIN(IF(n = 1 AND outcome = 'retry', oldest_received_at, NULL)) AS oldest_undelivered
FROM last GROUP BY destination ORDER BY destination
"""


def dead_letter_subscriptions(name: str, topology: Topology = TOPOLOGY) -> list[str]:
    """A destination's dead-letter subscriptions, or the one of a subscription named."""
    subs = topology.destination_subscriptions(name) or [
        s for s in topology.subscriptions if name in (s.name, s.dead_letter_topic)
    ]
    if not subs:
        raise NotFound(f"no destination or subscription named {name!r}")
    return [s.dead_letter_topic for s in subs]


def status(
    settings: Settings, sql: SqlRunner, subscriber: Subscriber, since: datetime, now: datetime
) -> list[dict[str, Any]]:
    table = f"{settings.project_id}.{settings.dataset(OPS)}.{DELIVERIES_TABLE}"
    rows = {r["destination"]: r for r in sql.query(STATUS_SQL.format(deliveries=table),
                                                    {"since": since})}  # fmt: skip
    out = []
    known = set(DESTINATIONS)  # enabled here, or reported by a destination's own function
    for name in sorted({*settings.enabled_destinations(), *(n for n in rows if n in known)}):
        row = rows.get(name) or {}
        oldest = row.get("oldest_undelivered")
        out.append(
            {
                "destination": name,
                "delivered": int(row.get("delivered") or 0),
                "filtered": int(row.get("filtered") or 0),
                "refused": int(row.get("refused") or 0),
                "retried": int(row.get("retried") or 0),
                "dead_lettered": sum(
                    len(peek(subscriber, s)) for s in dead_letter_subscriptions(name)
                ),
                "oldest_undelivered_age_seconds": _age(oldest, now),
            }
        )
    return out


def _age(oldest: Any, now: datetime) -> float | None:
    if oldest is None:
        return None
    when = oldest if isinstance(oldest, datetime) else datetime.fromisoformat(str(oldest))
    return round((now - when).total_seconds(), 1)


def take(subscriber: Subscriber, subscription: str, limit: int = 10_000) -> list[Received]:
    """Up to ``limit`` waiting messages, leased (none is read twice) until the caller
    acknowledges or releases each."""
    seen: list[Received] = []
    while len(seen) < limit:
        got = subscriber.pull(subscription, min(PULL, limit - len(seen)))
        if not got:
            break
        seen += got
    return seen


def peek(subscriber: Subscriber, subscription: str, limit: int = 10_000) -> list[Received]:
    """The waiting messages, left where they are."""
    seen = take(subscriber, subscription, limit)
    subscriber.release(subscription, [m.ack_id for m in seen])
    return seen


def describe(message: Received) -> dict[str, Any]:
    """A dead letter as an operator reads it: its events' ids and types."""
    body: dict[str, Any] = {"message_id": message.message_id, "published": message.publish_time,
                            "attributes": message.attributes}  # fmt: skip
    try:
        envelope = decode_push({"message": {"data": base64.b64encode(message.data).decode(),
                                            "attributes": message.attributes}})  # fmt: skip
    except InvalidMessage as error:
        return {**body, "error": str(error)}
    events = [e for e in envelope.events if isinstance(e, dict)]
    return {
        **body,
        "kind": envelope.kind,
        "events": len(events),
        "message_ids": [e.get("messageId") for e in events],
        "types": sorted({str(e.get("event") or e.get("type")) for e in events}),
    }


def list_dead(subscriber: Subscriber, name: str, limit: int = 1000) -> list[dict[str, Any]]:
    found = []
    for subscription in dead_letter_subscriptions(name):
        found += [{"subscription": subscription, **describe(m)}
                  for m in peek(subscriber, subscription, limit)]  # fmt: skip
    return found


def replay(
    subscriber: Subscriber,
    publisher: Publisher,
    name: str,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
    topology: Topology = TOPOLOGY,
) -> int:
    """Publish up to ``limit`` dead letters of ``name`` again for it alone; returns how many."""
    done = 0
    by_dead = {s.dead_letter_topic: s for s in topology.subscriptions}
    for subscription in dead_letter_subscriptions(name, topology):
        source = by_dead[subscription]
        target = topology.function(source.function).destination or source.function
        while limit is None or done < limit:
            batch = subscriber.pull(
                subscription, PULL if limit is None else min(PULL, limit - done)
            )
            if not batch:
                break
            publisher.publish([
                OutboundMessage(source.topic, m.data, {**m.attributes, REPLAY_FOR: target})
                for m in batch
            ])  # fmt: skip
            subscriber.acknowledge(subscription, [m.ack_id for m in batch])
            done += len(batch)
            if progress:
                progress(done)
    return done


def to_json(rows: Any) -> str:
    return json.dumps(rows, default=str, indent=2)
