"""Real implementations of the ports on Google Cloud's official clients.

Each client is created on first use, never at import. The clients honour
``PUBSUB_EMULATOR_HOST`` and ``FIRESTORE_EMULATOR_HOST``; BigQuery is pointed at its emulator by
``CDP_BIGQUERY_ENDPOINT``.
"""
