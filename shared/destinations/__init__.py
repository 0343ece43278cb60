"""Destinations: the marketing and analytics tools events are pushed to, one subscription each.

delivery.py   what an HTTP answer means for a delivery (sent, retry, permanent), pure
filters.py    which events a destination takes: types, names, consent, pure
webhook.py    the generic webhook: signed Segment-format batches
backfill.py   a promoted id's pre-promotion journey, published once for destinations opting in

Each destination runs as its own function on its own subscriptions (``shared.topology``), so a
slow or broken one never holds back the others: a retryable answer raises and Pub/Sub redelivers
with backoff for hours, then dead-letters; a permanent one is recorded as a failed event.
"""
