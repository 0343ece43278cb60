"""Engagement tiers: cold traffic to GA4 and the expiring archive, engaged users to the full
pipeline. ``router.TierRouter`` is the one entry point ingest calls."""
