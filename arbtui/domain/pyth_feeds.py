"""Pyth's mainnet price feeds for the equities we hedge: ticker → feed id (PYTH.md). Reference data."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

KNOWN_FEEDS: Mapping[str, str] = MappingProxyType(
    {
        "AAPL": "0x49f6b65cb1de6b10eaf75e7c03ca029c306d0357e91b5311b175084a5ad55688",
        "MSFT": "0xd0ca23c1cc005e004ccf1db5bf76aeb6a49218f43dac3d4b275e92de12ded4d1",
        "GOOG": "0xe65ff435be42630439c96396653a342829e877e2aafaeaf1a10d0ee5fd2cf3f2",
        "AMZN": "0xb5d0e0fa58a1f8b81498ae670ce93c872d14434b72c364885d4fa1b257cbb07a",
        "NVDA": "0xb1073854ed24cbc755dc527418f52b7d271f6cc967bbf8d8129112b18860a593",
        "META": "0x78a3e3b8e676a8f73c439f5d749737034b139bbbe899ba5775216fba596607fe",
        "TSLA": "0x16dad506d7db8da01c87581c87ca897a012a153557d4d578c3b9c9e1bc0632f1",
        "GME": "0x6f9cd89ef1b7fd39f667101a91ad578b6c6ace4579d5f7f285a4b06aa4504be6",
    }
)
"""Read-only; configuration adds to and overrides these (``[pyth.feeds]``)."""


class PythReadMode(StrEnum):
    """How the bot reads the Pyth price of a fill (``[pyth] method``)."""

    AUTO = "auto"
    """The transaction's own read from its trace; when the node has no tracer or the trace holds no read
    of the feed, ``getPriceUnsafe`` at the end of the fill's block."""
    TRACE = "trace"
    """Only the trace (``debug_traceTransaction``): never an ``eth_call``."""
    ETH_CALL = "eth_call"
    """Only ``getPriceUnsafe`` at the end of the fill's block (nodes without a debug namespace)."""
