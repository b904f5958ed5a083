"""OnChainTrade: witness (dedup), skip, enrich once, retract (reorg) and re-inclusion."""

from __future__ import annotations

import pytest

from arbtui.domain.errors import InvalidCommand, InvalidTransition
from arbtui.domain.onchain_trade import (
    SPEC,
    Enrich,
    Enriched,
    Filled,
    FillSkipped,
    OnChainFill,
    PythPrice,
    RecordSkip,
    Reorged,
    Retract,
    SkippedFill,
    SkipReason,
    TradeStatus,
    Witness,
    decide,
)
from arbtui.domain.values import PriceUsdc, Shares, Usdc
from tests.unit.domain.factory import at, fill, tid, trade_id, tx_hash
from tests.unit.domain.gwt import given

ID = tid(1)
FILL = fill(1, "0.3")
PYTH = PythPrice(feed_id="0x" + "11" * 32, value=18712345678, conf=1234567, expo=-8, publish_time=1_767_625_200)


def witness(f: OnChainFill = FILL, t: int = 0) -> Witness:
    return Witness(fill=f, at=at(t))


def filled(f: OnChainFill = FILL, t: int = 0) -> Filled:
    return Filled(fill=f, at=at(t))


SKIP = SkippedFill(
    trade_id=trade_id(1), block_number=1, block_hash=tx_hash(9), reason=SkipReason.UNKNOWN_TOKEN, detail="?"
)
ENRICH = Enrich(gas_used=210_000, pyth_price=PYTH)
ENRICHED = Enriched(gas_used=210_000, pyth_price=PYTH)
RETRACT = Retract(reorg_depth=2, detected_at_block=12)
REORGED = Reorged(reorg_depth=2, detected_at_block=12)


def test_witness_records_the_fill() -> None:
    state = given(SPEC, ID).when(decide, witness()).then(filled())
    assert state.status is TradeStatus.FILLED
    assert state.fill == FILL
    assert state.filled_at == at()


def test_witnessing_twice_is_a_no_op() -> None:
    given(SPEC, ID, filled()).when(decide, witness(t=5)).then_nothing()
    given(SPEC, ID, filled(), ENRICHED).when(decide, witness(t=5)).then_nothing()


def test_witness_of_another_trade_is_an_invalid_command() -> None:
    given(SPEC, tid(2)).when(decide, witness()).then_raises(InvalidCommand, match="another trade")


def test_witness_with_non_positive_amounts_is_an_invalid_command() -> None:
    zero_shares = FILL.model_copy(update={"amount": Shares.zero()})
    zero_usdc = FILL.model_copy(update={"usdc_amount": Usdc.zero()})
    zero_price = FILL.model_copy(update={"price_usdc": PriceUsdc.zero()})
    for bad in (zero_shares, zero_usdc, zero_price):
        given(SPEC, ID).when(decide, witness(bad)).then_raises(InvalidCommand, match="positive")


def test_skip_records_why_and_is_idempotent() -> None:
    state = given(SPEC, ID).when(decide, RecordSkip(skip=SKIP, at=at())).then(FillSkipped(skip=SKIP, at=at()))
    assert state.status is TradeStatus.SKIPPED
    assert state.skip == SKIP
    given(SPEC, ID, FillSkipped(skip=SKIP, at=at())).when(decide, RecordSkip(skip=SKIP, at=at(1))).then_nothing()


@pytest.mark.parametrize("history", [(filled(),), (filled(), REORGED)], ids=["filled", "reorged"])
def test_skip_after_a_fill_is_rejected(history: tuple[Filled | Reorged, ...]) -> None:
    given(SPEC, ID, *history).when(decide, RecordSkip(skip=SKIP, at=at())).then_raises(InvalidTransition, match="skip")


def test_skipped_trade_can_be_witnessed_after_a_config_fix() -> None:
    state = given(SPEC, ID, FillSkipped(skip=SKIP, at=at())).when(decide, witness(t=9)).then(filled(t=9))
    assert state.status is TradeStatus.FILLED


def test_enrich_once_after_fill() -> None:
    state = given(SPEC, ID, filled()).when(decide, ENRICH).then(ENRICHED)
    assert state.enriched == ENRICHED
    assert state.enriched is not None
    assert state.enriched.pyth_price is not None
    assert str(state.enriched.pyth_price.price) == "187.12345678"
    given(SPEC, ID, filled(), ENRICHED).when(decide, ENRICH).then_raises(InvalidTransition, match="already enriched")


def test_enrich_without_a_price_still_enriches() -> None:
    no_price = Enrich(gas_used=None, pyth_price=None, detail="no Pyth read in trace")
    given(SPEC, ID, filled()).when(decide, no_price).then(
        Enriched(gas_used=None, pyth_price=None, detail="no Pyth read in trace")
    )


@pytest.mark.parametrize(
    "history",
    [(), (FillSkipped(skip=SKIP, at=at()),), (filled(), REORGED)],
    ids=["new", "skipped", "reorged"],
)
def test_enrich_before_fill_is_rejected(history: tuple[Filled | Reorged | FillSkipped, ...]) -> None:
    given(SPEC, ID, *history).when(decide, ENRICH).then_raises(InvalidTransition, match="cannot enrich")


def test_retract_flags_the_trade_and_keeps_it() -> None:
    state = given(SPEC, ID, filled(), ENRICHED).when(decide, RETRACT).then(REORGED)
    assert state.status is TradeStatus.REORGED
    assert state.fill == FILL
    assert state.reorged == REORGED


def test_retract_twice_is_a_no_op() -> None:
    given(SPEC, ID, filled(), REORGED).when(decide, Retract(reorg_depth=3, detected_at_block=13)).then_nothing()


@pytest.mark.parametrize("history", [(), (FillSkipped(skip=SKIP, at=at()),)], ids=["new", "skipped"])
def test_retract_of_an_unfilled_trade_is_rejected(history: tuple[FillSkipped, ...]) -> None:
    given(SPEC, ID, *history).when(decide, RETRACT).then_raises(InvalidTransition, match="cannot retract")


def test_refill_after_reorg_starts_a_fresh_fill() -> None:
    again = fill(1, "0.3", block=3)
    state = given(SPEC, ID, filled(), ENRICHED, REORGED).when(decide, witness(again, t=30)).then(filled(again, t=30))
    assert state.status is TradeStatus.FILLED
    assert state.fill == again
    assert state.enriched is None
    assert state.reorged is None
    # the re-included fill may be enriched and retracted again
    given(SPEC, ID, filled(), ENRICHED, REORGED, filled(again)).when(decide, ENRICH).then(ENRICHED)
    given(SPEC, ID, filled(), REORGED, filled(again)).when(decide, RETRACT).then(REORGED)
