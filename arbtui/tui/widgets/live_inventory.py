"""The live inventory pane of the main screen: per asset, the onchain vaults, the broker's position, the
total, the drift from the target split, the alert and the suggested (manual) transfer — the lines of
:mod:`arbtui.reporting.inventory`, read through an injected :data:`InventoryReader`.

The pane reads on its own interval and whenever :meth:`LiveInventoryPane.read_now` is called (the app
calls it after each hedge fill). Reading is I/O (the node, the broker, the ledger): it runs in a worker,
one read at a time — a request made while one is in flight is remembered and served once it ends, so a
burst of hedges costs one more read, and a steady stream of them never starves the pane. A read that
fails or takes longer than :data:`READ_TIMEOUT_S` turns the pane into its error state: the title says
which source failed and when the numbers shown were read, and those numbers are dimmed — never stale
numbers that look fresh.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from loguru import logger
from rich.markup import escape
from rich.text import Text
from textual import work
from textual.message import Message

from arbtui.reporting.inventory import HEADER, InventoryReader, InventoryUnreadable, Line
from arbtui.tui.widgets._lines import Cell, LineTable, Row

REFRESH_S = 15.0
"""Seconds between reads when no hedge fills (each read is one batch to the node and two broker calls)."""
READ_TIMEOUT_S = 10.0
"""A read still unanswered after this long is an error: a hung venue must not leave old numbers up."""
COLUMNS = ("asset", "onchain", "broker", "total", "drift", "alert", "suggested_transfer")
"""What the pane shows of each :meth:`Line.row` (the ``g`` screen and ``arbtui report inventory`` have every
column)."""
NUMBERS = ("onchain", "broker", "total", "drift")
"""Lined up on their decimal points, rounded as :mod:`arbtui.display` shows them (``Line.row(shown=True)``)."""
REASON_SHOWN = 60
"""Characters of a failure's reason in the title (the log has all of it), so what is shown stays in view."""
_PICK = tuple(HEADER.index(name) for name in COLUMNS)
_ALERT = COLUMNS.index("alert")


@dataclass(frozen=True)
class Failure:
    """Why a read gave no lines: one line for the operator."""

    reason: str


class LiveInventoryPane(LineTable):
    """Inventory across venues, kept current by its own reads. The title says when the lines were read
    and which assets drift, or, after a failed read, what failed (the lines then dimmed)."""

    class Read(Message):
        """A read ended: its lines, or why there are none. Posted by the pane's worker, handled by
        ``LiveInventoryPane.on_live_inventory_pane_read``."""

        def __init__(self, result: Sequence[Line] | Failure, at: datetime) -> None:
            super().__init__()
            self.result = result
            self.at = at

    def __init__(
        self,
        reader: InventoryReader,
        *,
        clock: Callable[[], datetime],
        interval_s: float = REFRESH_S,
        timeout_s: float = READ_TIMEOUT_S,
        id: str | None = None,
    ) -> None:
        super().__init__(
            tuple(name.replace("_", " ") for name in COLUMNS),
            numbers=NUMBERS,
            shrink=True,
            id=id,
        )
        self._reader = reader
        self._clock = clock
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._reading = False
        self._again = False
        self.lines: Sequence[Line] = ()
        """The lines of the last read that succeeded (shown dimmed after a failure)."""
        self.read_at: datetime | None = None
        """When :attr:`lines` were read."""
        self.failure: Failure | None = None
        """Why the latest read failed (``None`` when it succeeded)."""
        self.reads = 0
        """Reads finished, successful or not."""
        self.border_title = "Inventory · reading…"
        self.set_reactive(LineTable.cursor_row, -1)  # no row marked (over a red DRIFT) until the operator moves

    def on_mount(self) -> None:
        super().on_mount()
        self.read_now()
        self.set_interval(self._interval_s, self.read_now)

    def read_now(self) -> None:
        """Read the venues again now, or right after the read in flight."""
        if self._reading:
            self._again = True
            return
        self._reading = True
        self._read()

    @work(group="inventory")
    async def _read(self) -> None:
        result = await self._attempt()
        if isinstance(result, Failure):
            logger.warning("inventory read failed: {}", result.reason)
        self.post_message(self.Read(result, self._clock()))

    async def _attempt(self) -> Sequence[Line] | Failure:
        try:
            async with asyncio.timeout(self._timeout_s):
                return await self._reader()
        except InventoryUnreadable as exc:
            return Failure(str(exc))
        except TimeoutError:
            return Failure(f"no answer within {self._timeout_s:g} s")
        except Exception as exc:  # noqa: BLE001 - a bug in a read must not close the console that hedges:
            logger.opt(exception=exc).error("inventory read raised")  # the log has the traceback,
            return Failure(f"{type(exc).__name__}: {exc}")  # the pane says the read failed

    def on_live_inventory_pane_read(self, message: Read) -> None:
        message.stop()
        self.reads += 1
        if isinstance(message.result, Failure):
            self.failure = message.result
        else:
            self.failure, self.lines, self.read_at = None, message.result, message.at
        self._show(message.at)
        self._reading = False
        if self._again:
            self._again = False
            self.read_now()

    def _show(self, now: datetime) -> None:
        stale = self.failure is not None
        rows: list[Row] = []
        for line in sorted(self.lines, key=lambda line: not line.alert):  # drifting first: in view on a short pane
            full = line.row(shown=True)
            cells: list[Cell] = [Text(full[i], style="dim") if stale else full[i] for i in _PICK]
            if not stale:
                cells[_ALERT] = Text(full[HEADER.index("alert")], style="bold red" if line.alert else "green")
            rows.append((line.holding.asset, cells))
        self.set_rows(rows)
        self.border_title = self._title(now)

    def _title(self, now: datetime) -> str:
        if self.failure is not None:
            shown = f"lines of {self.read_at:%H:%M:%S}" if self.read_at is not None else "nothing read yet"
            reason = self.failure.reason
            reason = reason if len(reason) <= REASON_SHOWN else reason[: REASON_SHOWN - 1] + "…"
            return f"Inventory · [bold red]✗ {now:%H:%M:%S} {escape(reason)}[/] · [dim]{shown}[/]"
        drifting = [line.holding.asset for line in self.lines if line.alert]
        drift = f"[bold red]DRIFT {', '.join(drifting)}[/] · " if drifting else ""
        return f"Inventory · {drift}as of {now:%H:%M:%S}"
