"""Inventory judgement (pure): totals, onchain ratio, drift at and past the threshold, the suggestion."""

from __future__ import annotations

import re
from decimal import Decimal

import click
import pytest

from arbtui.domain.values import Venue
from arbtui.reporting.inventory import Holding, Policy, assess, venue_label
from arbtui.reporting.inventory_command import parse_vaults

HALF = Policy(target=Decimal("0.5"), drift_alert=Decimal("0.2"))


def test_balanced_inventory_has_no_alert_and_no_suggestion() -> None:
    line = assess(Holding("AAPL", Decimal("5.5"), Decimal("5.5")), HALF)
    assert (line.total, line.ratio, line.drift, line.alert, line.suggestion) == (
        Decimal(11),
        Decimal("0.5"),
        Decimal(0),
        False,
        None,
    )


@pytest.mark.parametrize(
    ("onchain", "broker", "alert"),
    [("7", "3", True), ("6.999999", "3.000001", False), ("3", "7", True), ("3.000001", "6.999999", False)],
)
def test_the_alert_fires_exactly_at_the_threshold_either_way(onchain: str, broker: str, alert: bool) -> None:
    assert assess(Holding("AAPL", Decimal(onchain), Decimal(broker)), HALF).alert is alert


def test_the_suggestion_moves_the_excess_to_the_short_venue() -> None:
    line = assess(Holding("AAPL", Decimal("1.25"), Decimal("8.75")), HALF)
    assert line.suggestion is not None
    assert (line.suggestion.amount, line.suggestion.source, line.suggestion.destination) == (
        Decimal("3.75"),
        Venue.OFFCHAIN,
        Venue.ONCHAIN,
    )
    assert str(line.suggestion) == "move 3.75 AAPL broker → onchain (manual, st0x bridge)"


def test_the_report_names_the_venues_onchain_and_broker() -> None:
    """The words the inventory prints (table, CSV, JSON), not the domain value ``ONCHAIN``/``OFFCHAIN``."""
    assert {venue: venue_label(venue) for venue in Venue} == {Venue.ONCHAIN: "onchain", Venue.OFFCHAIN: "broker"}
    line = assess(Holding("AAPL", Decimal("8.75"), Decimal("1.25")), HALF)
    assert line.suggestion is not None
    assert (line.suggestion.source, line.suggestion.destination) == (Venue.ONCHAIN, Venue.OFFCHAIN)
    assert line.row()[-1] == "move 3.75 AAPL onchain → broker (manual, st0x bridge)"


def test_other_targets_and_usdc() -> None:
    line = assess(
        Holding("USDC", Decimal("900"), Decimal("100")), Policy(target=Decimal("0.25"), drift_alert=Decimal("0.1"))
    )
    assert (line.ratio, line.drift, line.alert) == (Decimal("0.9"), Decimal("0.65"), True)
    assert line.suggestion is not None
    assert line.suggestion.amount == Decimal(650)  # leaves 250 of 1000 onchain


def test_nothing_held_is_not_a_drift() -> None:
    line = assess(Holding("AAPL", Decimal(0), Decimal(0)), HALF)
    assert (line.ratio, line.alert, line.suggestion) == (None, False, None)
    assert line.row()[5:8] == ("", "", "ok")


@pytest.mark.parametrize(("target", "drift"), [("1.5", "0.2"), ("0.5", "0"), ("-0.1", "0.2")])
def test_a_policy_out_of_range_is_refused(target: str, drift: str) -> None:
    with pytest.raises(ValueError, match="inventory"):
        Policy(target=Decimal(target), drift_alert=Decimal(drift))


def test_a_vault_spec_names_its_token_and_book_or_takes_the_defaults() -> None:
    token, book, usdc = "0x" + "aa" * 20, "0x" + "BB" * 20, "0x" + "cc" * 20
    refs = parse_vaults(
        ("AAPL=0x07", f"MSFT=7@{token}", f"NVDA=0x02@{token}@{book}", f"TSLA=0@@{book}", "USDC=1"),
        {"AAPL": "0x" + "11" * 20, "TSLA": "0x" + "22" * 20},
        usdc,
    )
    assert [(r.asset, r.token, r.vault_id, r.orderbook) for r in refs] == [
        ("AAPL", "0x" + "11" * 20, 7, None),
        ("MSFT", token, 7, None),
        ("NVDA", token, 2, book.lower()),
        ("TSLA", "0x" + "22" * 20, 0, book.lower()),
        ("USDC", usdc, 1, None),
    ]


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("AAPL=seven", "expected ASSET=ID[@TOKEN] (or ASSET=ID[@TOKEN]@BOOK"),
        ("GOOG=1", "no token address known for GOOG"),
        ("AAPL=1@@0x12", "not an address: '0x12'"),
    ],
)
def test_a_bad_vault_spec_is_one_line_naming_the_form(spec: str, says: str) -> None:
    with pytest.raises(click.UsageError, match=re.escape(says)):
        parse_vaults((spec,), {"AAPL": "0x" + "11" * 20}, "0x" + "cc" * 20)


def test_rows_are_exact_for_json_and_rounded_for_people() -> None:
    """``row()`` keeps every digit (JSON); ``row(shown=True)`` is what the table, the CSV (``grouping`` off)
    and the console show: equities in shares to 6 decimals, USDC in cents, the transfer's amount too."""
    equity = assess(Holding("AAPL", Decimal("7.123456789012345678"), Decimal(3), Decimal("-0.000000001")), HALF)
    assert equity.row()[1:5] == ("7.123456789012345678", "3", "10.123456789012345678", "-0.000000001")
    assert equity.row(shown=True)[1:5] == ("7.123457", "3", "10.123457", ">-0.000001")
    assert equity.row(shown=True)[-1] == "move 2.061728 AAPL onchain → broker (manual, st0x bridge)"
    assert equity.row()[-1] == "move 2.061728394506172839 AAPL onchain → broker (manual, st0x bridge)"
    cash = assess(Holding("USDC", Decimal("12345.678"), Decimal("0.004")), HALF)
    assert cash.row(shown=True)[1:4] == ("12,345.68", "<0.01", "12,345.68")
    assert cash.row(shown=True, grouping=False)[1:4] == ("12345.68", "<0.01", "12345.68")
    assert cash.row(shown=True)[-1] == "move 6,172.84 USDC onchain → broker (manual, st0x bridge)"
