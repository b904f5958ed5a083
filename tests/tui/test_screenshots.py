"""`make screenshots`: the pictures come from a real session and are the same on every run."""

from __future__ import annotations

from pathlib import Path

from arbtui.tui.screenshots import shoot


def _text(svg: bytes) -> str:
    return svg.decode().replace("&#160;", " ")


def test_screenshots_picture_the_session_and_the_hedge_confirmation(tmp_path: Path) -> None:
    first = shoot(tmp_path / "a")
    assert [p.name for p in first] == ["main.svg", "hedge-modal.svg", "main.png"]
    main, modal, png = (p.read_bytes() for p in first)
    assert main.startswith(b"<svg")
    assert modal.startswith(b"<svg")
    for text in ("Onchain fills", "41000006", "GOOG", "171.27", "RECOVERED", "FILLED"):
        assert text in _text(main), text
    assert "market closed: TSLA hedge" in _text(main)  # the waiting hedge's warning, raised by the engine
    for text in ("Inventory · ", "DRIFT MSFT", "as of 14:36:00"):  # the pane's title, read after the hedges
        assert text in _text(main), text
    assert "move 15.75 MSFT onchain → broker" in _text(main)
    assert "SELL 3 shares of NVDA at market on dry_run" in _text(modal)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 10_000

    again = shoot(tmp_path / "b")
    assert [p.read_bytes() for p in again[:2]] == [main, modal]  # pinned clocks and ids: reproducible
