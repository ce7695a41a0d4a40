"""Monitoring: Prometheus metrics, scrape config and alert rules."""
