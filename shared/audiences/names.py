"""The names the audiences' events go by, for the job that emits them and the destinations that
act on them (filters, Slack templates, Meta's custom events): defined once, here, in a module
that imports nothing, so any layer may import it. The job's events come from the internal
source ``AUDIENCES_SOURCE_ID`` (``emit.AUDIENCES_SOURCE``), and its identifies set nothing but
``<audience_key>: true|false``."""

from __future__ import annotations

ENTERED_EVENT = "Audience Entered"
EXITED_EVENT = "Audience Exited"
AUDIENCE_EVENTS = (ENTERED_EVENT, EXITED_EVENT)
AUDIENCES_SOURCE_ID = "audiences"
