"""Books and reports: PnL, the unified trade stream and inventory, read from the ledger read-only."""
