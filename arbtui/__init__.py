"""arbtui — hedging bot for tokenized equities on the Raindex orderbook."""

__version__ = "0.1.0"
