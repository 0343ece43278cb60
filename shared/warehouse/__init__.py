"""Warehouse: BigQuery datasets and tables, and the loader that fills them."""
