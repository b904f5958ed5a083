"""The embedded demo: a throwaway local world (anvil, the orderbook stand-in, MockPyth, a local Alpaca-style
broker server) and a simulated solver, so the real pipeline can be watched without any account or node.
The test suite reuses the same pieces."""
