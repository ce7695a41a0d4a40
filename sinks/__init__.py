"""Sinks: normalised events and aggregates into ClickHouse (issue 4)."""
