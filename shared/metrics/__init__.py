"""The metrics layer: sessionization and governed KPIs over the curated warehouse models."""
