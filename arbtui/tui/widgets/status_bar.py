"""The status bar (top line): chain, broker and market, alerts a sink never received, in-flight executions,
unhedged exposure, then the session and its next transition (``POST → CLOSED 20:00 ET``)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from rich.text import Text
from textual.widgets import Static

from arbtui import display
from arbtui.brokers.base import MarketClock
from arbtui.tui.messages import EngineStatus

EXCHANGE_TIME = ZoneInfo("America/New_York")


def market_words(market: MarketClock | None) -> tuple[str, str]:
    """The market as the broker's clock last answered, with the next transition in exchange time:
    ``market open · closes 16:00 ET`` or ``market CLOSED · opens Mon 09:30 ET`` (and its style)."""
    if market is None:
        return "market —", "dim"
    if market.is_open:
        until = "" if market.next_close is None else f" · closes {_et(market.next_close)}"
        return f"market open{until}", ""
    since = "" if market.next_open is None else f" · opens {_et(market.next_open)}"
    return f"market CLOSED{since}", "yellow"


def _et(moment: datetime) -> str:
    return moment.astimezone(EXCHANGE_TIME).strftime("%a %H:%M ET")


class StatusBar(Static):
    """One line, always visible. Red parts need attention."""

    def show(self, status: EngineStatus | None, unhedged: Decimal, in_flight: int) -> None:
        line = Text(" arbtui ", style="bold reverse")
        line.append("  ")
        if status is None:
            line.append("starting…", style="dim")
        else:
            chain = status.readiness.checks.get("chain")
            if chain is None:
                line.append("chain —", style="dim")
            elif chain.ok:
                line.append("chain live", style="green")
            else:
                line.append(f"chain {chain.detail or 'down'}", style="bold red")
            if status.node_inconsistencies:
                line.append(f" ⚠ node inconsistent ×{status.node_inconsistencies}", style="bold yellow")
            line.append("  ")
            broker = status.readiness.checks.get("broker")
            line.append(f"{status.broker} ", style="green" if broker is None or broker.ok else "bold red")
            line.append(*market_words(status.market))
            engine = status.readiness.checks.get("engine")
            if engine is not None and not engine.ok:
                line.append(f"  {engine.detail}", style="bold red")
            if status.alerts_undelivered:
                line.append(f"  ⚠ alerts undelivered ×{status.alerts_undelivered}", style="bold yellow")
        line.append("  ")
        if in_flight:
            line.append(f"{in_flight} in flight  ", style="cyan")
        line.append(f"unhedged ${display.usd(unhedged)}", style="bold" if unhedged else "dim")
        if status is not None and status.session is not None:
            # last: on a narrow terminal the session is what is cut, never the exposure
            line.append(f"  {status.session.describe()}", style="cyan")
        self.update(line)
