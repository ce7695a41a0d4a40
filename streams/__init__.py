"""Stream processing: validation, the per-enterprise ledger and rolling aggregates, the Faust app."""
