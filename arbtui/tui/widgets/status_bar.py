"""The status bar (top line): chain, broker and market, in-flight executions, unhedged exposure."""

from __future__ import annotations

from decimal import Decimal

from rich.text import Text
from textual.widgets import Static

from arbtui.tui.messages import EngineStatus
from arbtui.tui.model import money


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
            line.append(
                "market open" if status.market_open else "market closed", style="" if status.market_open else "yellow"
            )
            engine = status.readiness.checks.get("engine")
            if engine is not None and not engine.ok:
                line.append(f"  {engine.detail}", style="bold red")
        line.append("  ")
        if in_flight:
            line.append(f"{in_flight} in flight  ", style="cyan")
        line.append(f"unhedged ${money(unhedged)}", style="bold" if unhedged else "dim")
        self.update(line)
