"""Onchain adapter: Raindex logs → our fills, Pyth prices from traces, and the intake that feeds the ledger.

May import :mod:`arbtui.domain` only (import-linter contract); raw chain payloads are translated in
:mod:`arbtui.chain.decode` and :mod:`arbtui.chain.pyth`, nowhere else.
"""
