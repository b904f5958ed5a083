"""The operator console (Textual). Only ``arbtui.cli`` imports this package."""

from arbtui.tui.app import ArbtuiApp

__all__ = ["ArbtuiApp"]
