"""The demo's lifecycle journeys: what each person who signs up does, one stage after another.

Each sign-up lives one of the seeds' lifecycle stages, in turn (``LIFECYCLE``), so any demo of
five or more sign-ups has members in all five audiences of ``shared/audiences/audiences.yaml``:

- ``active_core``: signed up weeks ago, on the phone since, 3 to 5 settled transactions in the
  last 20 days and a recent app session.
- ``churn_risk`` twice: three sessions 8 to 29 days back and none since; transactions only 22
  to 29 days back, in the 30-day volume once at least 500 (the Slack alert's threshold,
  ``churn_risk_high_value``) and once under 200.
- ``activated_incomplete`` (approved, the bank link failed) and ``kyc_rejected``: signed up 8 to
  20 days back, never funded.
- ``funded_dormant``: a bank linked and never used, or a transaction or two right after signing
  up, long ago.
- ``direct_deposit``: like ``active_core`` with 1 or 2 transactions, and direct deposit enabled.
- ``new_user``: signed up this week, funded, a first transaction; in no stage yet, like the
  anonymous visitors.

Why the bands keep clear of the edges: the audiences' rules count days back from the moment the
job runs, and their edges are 7, 21, 30 and 37 days back (37: the sessions rule's 30 days
before the last 7 begin). A moment drawn close to an edge would cross it minutes or hours
after the demo and move its person in or out of a stage. So every moment comes from a band of
days at least a third of a day from the edges (half a day at the band's ends, a third once a
session's calls end; ``Journeys.at`` pushes an incidental moment near an edge past it), and the
job finds the same memberships for hours after the demo.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.local.demo_context import Visitor

if TYPE_CHECKING:
    from shared.local.demo import Journeys

# Days back (low, high) clear of the stages' edges by half a day, a third once a session ends.
RECENT, MID, LATE, OLD = (0.4, 6.3), (7.7, 20.3), (21.7, 29.3), (41.0, 58.0)
EDGES = (7, 21, 30, 37)
LIFECYCLE = ("active_core", "churn_risk_high_value", "activated_incomplete", "funded_dormant",
             "direct_deposit", "churn_risk", "new_user", "kyc_rejected")  # fmt: skip


def _active(j: Journeys, v: Visitor, transactions: int) -> None:
    """Signed up weeks ago, on the phone since, transacting in the last 20 days."""
    j.funded(v, OLD)
    platform = j.mobile_login(v)
    j.transact(v, [v.rng.uniform(RECENT[0], MID[1]) for _ in range(transactions)])
    j.at(v, RECENT)
    j.app_session(v, platform)


def _churn(j: Journeys, v: Visitor, high_value: bool) -> None:
    """Three sessions 8 to 29 days back, none since; the transactions 22 to 29 days back."""
    j.funded(v, OLD)
    j.at(v, LATE)
    platform = j.mobile_login(v)
    amounts = (260.0, 450.0) if high_value else (20.0, 200.0)
    j.transact(v, [v.rng.uniform(*LATE) for _ in range(2 if high_value else 1)], amounts)
    j.at(v, (14.5, MID[1]))
    j.app_session(v, platform)
    j.at(v, (MID[0], 13.5))
    visit = v.new_session("web")  # back on the site: a session of its own
    j.track("web", v, "support_ticket_opened", {**visit, "topic": "fees"}, "/help")
    j.track("web", v, "subscription_cancelled", visit, "/settings/plan")


def lifecycle(j: Journeys, v: Visitor, stage: str) -> None:
    """The journey of one person who signs up and lives ``stage`` (one of ``LIFECYCLE``)."""
    if stage == "active_core":
        _active(j, v, v.rng.randint(3, 5))
    elif stage == "direct_deposit":
        _active(j, v, v.rng.randint(1, 2))
        j.track("backend", v, "direct_deposit_enabled", {"platform": "server"})
    elif stage.startswith("churn_risk"):
        _churn(j, v, high_value=stage.endswith("high_value"))
    elif stage == "funded_dormant":
        if v.rng.random() < 0.5:  # transacted a little right after signing up, long ago
            days = j.at(v, OLD)
            j.funded(v, (days, days))
            j.transact(v, [days - v.rng.uniform(0.5, 2.5) for _ in range(v.rng.randint(1, 2))])
        else:  # linked a bank and never used it
            j.funded(v, MID)
    elif stage == "new_user":  # signed up this week, funded, a first transaction
        days = j.at(v, RECENT)
        j.funded(v, (days, days))
        j.transact(v, [days - v.rng.uniform(0.1, 0.3)])
    else:  # activated_incomplete, kyc_rejected: signed up a week or more ago, never funded
        props = j.sign_up(v, MID)
        if stage == "kyc_rejected":
            j.track(
                "backend", v, "kyc_rejected", {"platform": "server", "reason": "document_blurry"}
            )
        else:
            j.track("backend", v, "kyc_approved", {"platform": "server"})
            j.track(
                "web", v, "bank_account_failed", {**props, "bank": "Demo Bank"}, "/onboarding/bank"
            )
