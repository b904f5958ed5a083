"""The parallel rebuild writes exactly what the serial one writes, and fails the same way."""

from __future__ import annotations

import queue
import sqlite3
from pathlib import Path

import pytest

from arbtui.store import projections
from arbtui.store.errors import CorruptEvent, UnknownEventType
from arbtui.store.migrate import connect_sync
from arbtui.store.rebuild import rebuild_views
from bench.ledger import build_log


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("log")
    build_log(folder / "log.db", folder / "raw.db", 3000)
    return folder / "log.db"


def _copy(log: Path, to: Path) -> Path:
    source = sqlite3.connect(log)
    target = sqlite3.connect(to)
    source.backup(target)
    source.close()
    target.close()
    return to


def _views(path: Path) -> dict[str, list[tuple[str, int, str]]]:
    conn = sqlite3.connect(path)
    try:
        return {
            table: conn.execute(f"SELECT view_id, version, payload FROM {table} ORDER BY view_id").fetchall()
            for table in projections.ALL_TABLES
        }
    finally:
        conn.close()


def _rebuild(path: Path, *, parallel: bool) -> int:
    conn = connect_sync(path)
    try:
        return rebuild_views(conn, parallel=parallel)
    finally:
        conn.close()


def test_parallel_rebuild_writes_the_serial_rows(log: Path, tmp_path: Path) -> None:
    serial, parallel = _copy(log, tmp_path / "serial.db"), _copy(log, tmp_path / "parallel.db")
    (events,) = sqlite3.connect(log).execute("SELECT count(*) FROM events").fetchone()
    assert _rebuild(serial, parallel=False) == _rebuild(parallel, parallel=True) == events
    assert _views(serial) == _views(parallel)
    assert sum(len(rows) for rows in _views(parallel).values()) > 1000


def _corrupt(path: Path, aggregate_type: str, *, event_type: str | None = None, payload: str | None = None) -> str:
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER IF EXISTS events_no_update")
    (aggregate_id,) = conn.execute(
        "SELECT aggregate_id FROM events WHERE aggregate_type = ? ORDER BY aggregate_id LIMIT 1 OFFSET 7",
        (aggregate_type,),
    ).fetchone()
    conn.execute(
        "UPDATE events SET event_type = coalesce(?, event_type), payload = coalesce(?, payload)"
        " WHERE aggregate_type = ? AND aggregate_id = ? AND sequence = 1",
        (event_type, payload, aggregate_type, aggregate_id),
    )
    conn.commit()
    conn.close()
    return str(aggregate_id)


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("aggregate_type", ["OffchainOrder", "OnChainTrade", "Position"])
def test_a_corrupt_event_is_the_same_error_and_nothing_is_written(
    log: Path, tmp_path: Path, aggregate_type: str, parallel: bool
) -> None:
    path = _copy(log, tmp_path / "log.db")
    before = _views(path)
    aggregate_id = _corrupt(path, aggregate_type, payload='{"amount": 1.5}')
    with pytest.raises(CorruptEvent, match=rf"^{aggregate_type} {aggregate_id} sequence 1: .*invalid"):
        _rebuild(path, parallel=parallel)
    assert _views(path) == before


@pytest.mark.parametrize("parallel", [False, True])
def test_the_first_bad_event_in_key_order_is_reported(log: Path, tmp_path: Path, parallel: bool) -> None:
    path = _copy(log, tmp_path / "log.db")
    first = _corrupt(path, "OffchainOrder", event_type="Teleported")
    _corrupt(path, "Position", payload="not json")
    with pytest.raises(UnknownEventType, match=rf"^OffchainOrder {first} sequence 1: unknown event type"):
        _rebuild(path, parallel=parallel)


class _Rows:
    def __init__(self) -> None:
        self.written: list[object] = []
        self.elsewhere = 0

    def write(self, rows: list[object]) -> None:
        self.written.extend(rows)


def test_a_helper_that_finished_first_is_not_waited_for_again() -> None:
    from arbtui.store.rebuild import _Helper

    inbox: queue.Queue[tuple[str, object, int]] = queue.Queue()
    inbox.put(("rows", ["a"], 1))
    inbox.put(("done", ["b"], 2))
    helper = _Helper(inbox, lambda: False)
    rows = _Rows()
    helper.deliver(rows, wait=False)  # type: ignore[arg-type]
    helper.deliver(rows, wait=True)  # type: ignore[arg-type]  # returns at once: the helper is done
    assert (rows.written, rows.elsewhere) == (["a", "b"], 2)


def test_a_helper_that_died_silently_is_an_error() -> None:
    from arbtui.store.rebuild import _Helper

    helper = _Helper(queue.Queue(), lambda: False)
    with pytest.raises(RuntimeError, match="stopped without a result"):
        helper.deliver(_Rows(), wait=True)  # type: ignore[arg-type]
