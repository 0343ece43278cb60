"""Audiences and computed traits: definitions as code, compiled to BigQuery SQL, run on a
schedule, written to profiles, and announced as events to the destinations that subscribe."""
