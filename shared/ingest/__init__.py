"""Ingest: the Segment-compatible Tracking API (auth, parsing, validation, enrichment, publish)."""
