"""The pure trading model: values, aggregates (decide/evolve) and cross-aggregate flows. No I/O."""

from typing import Any

from arbtui.domain import control, offchain_order, onchain_trade, position, schwab_auth
from arbtui.domain.events import AggregateSpec

AGGREGATES: dict[str, AggregateSpec[Any, Any]] = {
    spec.type_name: spec
    for spec in (onchain_trade.SPEC, position.SPEC, offchain_order.SPEC, schwab_auth.SPEC, control.SPEC)
}
"""Every aggregate the store knows, by its ``aggregate_type``."""
