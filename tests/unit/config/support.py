"""Shared pieces of the config tests: a minimal valid file and a writer for temp TOML files."""

from __future__ import annotations

from pathlib import Path

ORDERBOOK = "0x881cf4c0764e733d9C387f3858eE87CcA04AFFe0"
OWNER = "0x71b94911FD1CE621FC40970450004c544e5287a8"
USDC = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"
ENCRYPTION_KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

MINIMAL = f"""\
[chain]
http_url = "http://127.0.0.1:8545"
orderbook = "{ORDERBOOK}"
owner = "{OWNER}"
usdc = "{USDC}"
"""
"""The smallest valid file: the chain table only; everything else takes its default."""

ALPACA_SECRETS = {"ARBTUI_ALPACA_API_KEY": "PKALPACAKEY", "ARBTUI_ALPACA_API_SECRET": "alpaca-secret-value"}
SCHWAB_SECRETS = {
    "ARBTUI_SCHWAB_APP_KEY": "schwab-app-key",
    "ARBTUI_SCHWAB_APP_SECRET": "schwab-app-secret",
    "ARBTUI_ENCRYPTION_KEY": ENCRYPTION_KEY,
}


def write(tmp_path: Path, text: str, name: str = "arbtui.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path
