"""Governance: the tracking plan as the contract at ingest, the PII guard, privacy requests."""
