"""Alpaca adapter: :class:`AlpacaBroker` configured by :class:`AlpacaConfig`."""

from arbtui.brokers.alpaca.client import AlpacaBroker, AlpacaConfig

__all__ = ["AlpacaBroker", "AlpacaConfig"]
