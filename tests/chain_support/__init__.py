"""Test-only chain plumbing: log helpers and a fault-injecting JSON-RPC proxy. anvil, the contract
artifacts and the deploy helpers live in :mod:`arbtui.demo`, which the embedded demo shares."""
