"""The hedging engine: wires the ledger, chain intake and brokers together."""
