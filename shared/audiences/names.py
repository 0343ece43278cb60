"""The names the audiences' events go by, for the job that emits them and the destinations that
act on them (filters, Slack templates, Meta's custom events): defined once, here, in a module
that imports nothing, so any layer may import it. The job's events come from the internal
source ``AUDIENCES_SOURCE_ID`` (``emit.AUDIENCES_SOURCE``), and its identifies set nothing but
``<audience_key>: true|false``. The SQL sources' identifies come from the internal sources
``INTERNAL_SOURCE_PREFIX<key>`` (``sql_source_rows.source_of``)."""

from __future__ import annotations

ENTERED_EVENT = "Audience Entered"
EXITED_EVENT = "Audience Exited"
AUDIENCE_EVENTS = (ENTERED_EVENT, EXITED_EVENT)
AUDIENCES_SOURCE_ID = "audiences"
INTERNAL_SOURCE_PREFIX = "sql-"  # a SQL source's internal source id: this and its key
