"""The console's panes, one per module."""

from arbtui.tui.widgets.accumulators import AccumulatorsPane
from arbtui.tui.widgets.alert_log import AlertLog
from arbtui.tui.widgets.control_banner import ControlBanner
from arbtui.tui.widgets.fills import FillsPane
from arbtui.tui.widgets.orders import OrdersPane
from arbtui.tui.widgets.status_bar import StatusBar

__all__ = ["AccumulatorsPane", "AlertLog", "ControlBanner", "FillsPane", "OrdersPane", "StatusBar"]
