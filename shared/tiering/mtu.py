"""The MTU report: what the tiers kept out of the full pipeline in a month, and what that saves.

MTUs are counted the way per-MTU CDPs bill them: distinct userIds, plus anonymousIds that sent
events to the full pipeline and were never linked to a userId there. Cold-only ids were seen
(cold archive) but never entered the full pipeline. The cold path's own cost is estimated from
counted operations at list prices (``PRICES``): one Pub/Sub message per ingest request with cold
events, pushed to two subscriptions (archive, GA4), one function invocation each, one streamed
row per event in the cold archive, and its storage. Promotion lookups at ingest are not in the
warehouse and are left out (at most one batched Firestore read per request per cache TTL).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from shared.errors import BadRequest
from shared.ports.documents import DocumentStore
from shared.ports.warehouse import SqlRunner
from shared.settings import Settings
from shared.tiering import attribution
from shared.topology import COLD_EVENTS, TOPOLOGY
from shared.warehouse.tables import COLD_ARCHIVE_TABLE, EVENTS_TABLE, RAW

PRICES = {  # USD, Google Cloud list prices, read 2026-12-02; regional, tier-1 regions such as
    # the default europe-west1 (Firestore's regional prices differ a few percent by location)
    # https://cloud.google.com/pubsub/pricing
    "pubsub_per_tib": 40.0,  # throughput: publish and each delivery, ≥ 1 KB per message
    # https://cloud.google.com/run/pricing (Cloud Run functions bill as Cloud Run services,
    # request-based billing: instance time while serving, beyond the monthly free tier)
    "invocations_per_million": 0.40,  # Cloud Run functions requests
    "run_vcpu_second": 0.000024,  # allocated vCPU-second of instance time
    "run_gib_second": 0.0000025,  # allocated GiB-second of instance time
    # https://cloud.google.com/bigquery/pricing
    "bigquery_streaming_per_gib": 0.05,  # legacy streaming inserts, ≥ 1 KB per row
    "bigquery_storage_per_gib_month": 0.02,  # active logical storage
    "bigquery_query_per_tib": 6.25,  # on-demand analysis
    # https://cloud.google.com/firestore/pricing (Standard edition; the figures for US regional
    # locations as quoted by airbyte.com/data-engineering-resources/google-firestore-pricing;
    # multi-region locations cost twice as much: $0.06, $0.18, $0.02)
    "firestore_reads_per_100k": 0.03,
    "firestore_writes_per_100k": 0.09,
    "firestore_deletes_per_100k": 0.01,
    # GA4 Measurement Protocol requests are not billed (Google Analytics standard property)
    "ga4_request": 0.0,
}
GIB, TIB = 1024**3, 1024**4
PUBSUB_MIN_BYTES = 1000  # billed at least per publish, push or pull request (pubsub/pricing)
STREAMED_ROW_MIN_BYTES = 1024  # legacy streaming inserts bill rows at least 1 KB (bigquery/pricing)
# warehouse-cold-archive and ga4-cold-events: the cold path as deployed with GA4 enabled
SUBSCRIPTIONS_ON_COLD = sum(1 for s in TOPOLOGY.subscriptions if s.topic == COLD_EVENTS)

REPORT_SQL = """
WITH engaged AS (
  SELECT user_id, anonymous_id FROM `{events}`
  WHERE received_at >= @start AND received_at < @end
), linked AS (
  SELECT DISTINCT anonymous_id FROM engaged
  WHERE user_id IS NOT NULL AND anonymous_id IS NOT NULL
), entered AS (
  SELECT DISTINCT anonymous_id FROM engaged WHERE anonymous_id IS NOT NULL
), mtus AS (
  SELECT DISTINCT CONCAT('u:', user_id) AS id FROM engaged WHERE user_id IS NOT NULL
  UNION DISTINCT
  SELECT DISTINCT CONCAT('a:', anonymous_id) AS id FROM engaged
  WHERE user_id IS NULL AND anonymous_id IS NOT NULL
    AND anonymous_id NOT IN (SELECT anonymous_id FROM linked)
), cold AS (
  SELECT anonymous_id, source_id, received_at, TO_JSON_STRING(payload) AS body
  FROM `{cold}` WHERE received_at >= @start AND received_at < @end
)
SELECT
  (SELECT COUNT(*) FROM mtus) AS mtus,
  (SELECT COUNT(DISTINCT anonymous_id) FROM cold
   WHERE anonymous_id NOT IN (SELECT anonymous_id FROM entered)) AS cold_only_ids,
  (SELECT COUNT(*) FROM cold) AS cold_events,
  (SELECT COUNT(DISTINCT CONCAT(source_id, '|', CAST(received_at AS STRING))) FROM cold)
    AS cold_messages,
  (SELECT COUNT(DISTINCT CONCAT(source_id, '|', CAST(received_at AS STRING), '|',
                                COALESCE(anonymous_id, ''))) FROM cold) AS ga4_requests,
  (SELECT COALESCE(SUM(LENGTH(body)), 0) FROM cold) AS cold_bytes
"""

PROMOTED_SQL = """
SELECT DISTINCT e.anonymous_id FROM `{events}` AS e
WHERE e.received_at >= @start AND e.received_at < @end AND e.anonymous_id IS NOT NULL
  AND e.anonymous_id != ''  -- ingest and the tier router take an empty id for none
ORDER BY e.anonymous_id
"""


@dataclass(frozen=True)
class MtuReport:
    month: str
    ids_seen: int
    mtus: int  # entered the full pipeline
    cold_only_ids: int
    mtu_share: float  # mtus / ids_seen
    list_price_per_mtu: float
    saving_usd: float  # cold_only_ids at the list price
    promoted_ids: int  # anonymous ids that entered the full pipeline this month
    promoted_with_first_touch: int
    cold_operations: dict[str, int]
    cold_path_cost_usd: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        ops = self.cold_operations
        return [
            f"MTU report for {self.month}",
            f"  ids seen               {self.ids_seen}",
            f"  MTUs (full pipeline)   {self.mtus}  ({self.mtu_share:.1%} of ids seen)",
            f"  cold-only ids          {self.cold_only_ids}",
            f"  saving                 ${self.saving_usd:,.2f} at "
            f"${self.list_price_per_mtu} per MTU",
            f"  promoted ids           {self.promoted_ids}, "
            f"{self.promoted_with_first_touch} with first-touch attribution",
            f"  cold path operations   {ops['cold_events']} events, {ops['pubsub_messages']} "
            f"Pub/Sub messages, {ops['function_invocations']} invocations, "
            f"~{ops['ga4_requests']} GA4 requests, {ops['bigquery_rows']} archive rows",
            f"  cold path cost         ${self.cold_path_cost_usd:,.6f} at list prices",
        ]


def month_range(month: str) -> tuple[datetime, datetime]:
    try:
        year, number = (int(part) for part in month.split("-"))
        start = datetime(year, number, 1, tzinfo=UTC)
    except ValueError as error:
        raise BadRequest(f"Month must look like 2026-11, not {month!r}.") from error
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC)
    return start, end


def cold_path_cost(ops: dict[str, int], cold_bytes: int) -> float:
    messages, rows = ops["pubsub_messages"], ops["bigquery_rows"]
    message_bytes = max(PUBSUB_MIN_BYTES, cold_bytes // messages) if messages else 0
    pubsub = messages * message_bytes * (1 + SUBSCRIPTIONS_ON_COLD)
    row_bytes = max(STREAMED_ROW_MIN_BYTES, cold_bytes // rows) if rows else 0
    return (
        pubsub / TIB * PRICES["pubsub_per_tib"]
        + ops["function_invocations"] / 1e6 * PRICES["invocations_per_million"]
        + rows * row_bytes / GIB * PRICES["bigquery_streaming_per_gib"]
        + cold_bytes / GIB * PRICES["bigquery_storage_per_gib_month"]
    )


def mtu_report(
    settings: Settings, sql: SqlRunner, documents: DocumentStore, month: str
) -> MtuReport:
    start, end = month_range(month)
    tables = {
        "events": settings.table(RAW, EVENTS_TABLE),
        "cold": settings.table(RAW, COLD_ARCHIVE_TABLE),
    }
    params = {"start": start, "end": end}
    [row] = sql.query(REPORT_SQL.format(**tables), params)
    promoted = [r["anonymous_id"] for r in sql.query(PROMOTED_SQL.format(**tables), params)]
    with_touch = attribution.find(documents, promoted)
    mtus, cold_only = int(row["mtus"]), int(row["cold_only_ids"])
    messages = int(row["cold_messages"])
    ops = {
        "cold_events": int(row["cold_events"]),
        "pubsub_messages": messages,
        "function_invocations": messages * SUBSCRIPTIONS_ON_COLD,
        "ga4_requests": int(row["ga4_requests"]),
        "bigquery_rows": int(row["cold_events"]),
    }
    seen = mtus + cold_only
    return MtuReport(
        month=month,
        ids_seen=seen,
        mtus=mtus,
        cold_only_ids=cold_only,
        mtu_share=mtus / seen if seen else 0.0,
        list_price_per_mtu=settings.mtu_list_price_usd,
        saving_usd=round(cold_only * settings.mtu_list_price_usd, 2),
        promoted_ids=len(promoted),
        promoted_with_first_touch=len(with_touch),
        cold_operations=ops,
        cold_path_cost_usd=cold_path_cost(ops, int(row["cold_bytes"])),
    )
