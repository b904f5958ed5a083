"""Real local chain infrastructure for the chain tests and benchmark: anvil, solc-js artifacts, deploy
helpers and a fault-injecting JSON-RPC proxy."""
