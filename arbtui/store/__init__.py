"""Persistence: the event store, its projections into views, migrations and the ledger facade. The only
place that writes SQL."""
