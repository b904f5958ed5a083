"""The console's modal screens."""

from arbtui.tui.screens.confirm import ConfirmScreen, ReasonScreen
from arbtui.tui.screens.detail import DetailScreen
from arbtui.tui.screens.hedge import HedgeRequest, HedgeScreen
from arbtui.tui.screens.help import HelpScreen
from arbtui.tui.screens.history import HistoryScreen

__all__ = [
    "ConfirmScreen",
    "DetailScreen",
    "HedgeRequest",
    "HedgeScreen",
    "HelpScreen",
    "HistoryScreen",
    "ReasonScreen",
]
