"""The PAUSED / KILL SWITCH banner: shown only while hedging is stopped, with who stopped it and why."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from arbtui.domain.control import Control


class ControlBanner(Static):
    """Hidden while everything hedges. The kill switch outranks a pause."""

    def show(self, control: Control) -> None:
        if control.kill_switch is not None:
            audit = control.kill_switch
            self.set_classes("-kill")
            self.update(Text(f"KILL SWITCH ENGAGED by {audit.actor}: {audit.reason}  (k to clear)"))
        elif control.paused_all is not None:
            audit = control.paused_all
            self.set_classes("-paused")
            self.update(Text(f"PAUSED (all symbols) by {audit.actor}: {audit.reason}  (r to resume)"))
        elif control.paused_symbols:
            names = ", ".join(sorted(control.paused_symbols))
            self.set_classes("-paused")
            self.update(Text(f"PAUSED: {names}  (select in accumulators, r to resume)"))
        else:
            self.set_classes("")
        self.display = bool(control.kill_switch or control.paused_all or control.paused_symbols)
