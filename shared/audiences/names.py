"""The names the audiences' events go by, for the job that emits them and the destinations that
act on them (filters, Slack templates, Meta's custom events): defined once, here, in a module
that imports nothing, so any layer may import it."""

from __future__ import annotations

ENTERED_EVENT = "Audience Entered"
EXITED_EVENT = "Audience Exited"
AUDIENCE_EVENTS = (ENTERED_EVENT, EXITED_EVENT)
