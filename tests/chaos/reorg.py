"""One reorg on the real anvil: ``evm_snapshot``, a doomed branch of fills, ``evm_revert``, then a new
branch on which part of the doomed transactions are replayed byte for byte (same sender, nonce, fees and
data → the same transaction hash, so the same trade ids are re-included in other blocks) and new fills
follow. The emitter's record is completed with whatever the new branch holds; which fills are canonical
is asked of the node at the end (:meth:`FillEmitter.canonical`)."""

from __future__ import annotations

import asyncio
import math
from typing import Any, cast

from tests.chaos.accounting import settled
from tests.chaos.rig import Rig
from tests.e2e.harness import EmittedFill, eventually


def _replay(rig: Rig, original: dict[str, Any]) -> str:
    """Send ``original`` again with every field as it was; returns the new transaction hash."""
    w3 = rig.chain.driver.w3
    fields: dict[str, Any] = {
        "from": original["from"],
        "to": original["to"],
        "gas": hex(original["gas"]),
        "nonce": hex(original["nonce"]),
        "value": hex(original["value"]),
        "data": "0x" + bytes(original["input"]).hex(),
    }
    if original.get("maxFeePerGas") is not None:
        fields["maxFeePerGas"] = hex(original["maxFeePerGas"])
        fields["maxPriorityFeePerGas"] = hex(original["maxPriorityFeePerGas"])
    else:
        fields["gasPrice"] = hex(original["gasPrice"])
    answer = w3.provider.make_request("eth_sendTransaction", [fields])  # type: ignore[arg-type]
    if "result" not in answer:
        raise RuntimeError(f"replay of {original['hash'].hex()} refused: {answer.get('error')}")
    tx_hash = str(answer["result"])
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)  # type: ignore[arg-type]
    if receipt["status"] != 1:
        raise RuntimeError(f"replayed transaction {tx_hash} reverted")
    return tx_hash


def _record_replay(rig: Rig, old_hash: str, new_hash: str) -> int:
    """Fills of a replayed transaction under a new hash are new fills for the model; same hash: the
    same trade ids, already in the record. Returns how many fills were re-included under the same ids."""
    old = [f for f in rig.emitter.emitted if f.trade_id.split(":")[0] == old_hash]
    if new_hash.lower() == old_hash.lower():
        return len(old)
    receipt = rig.chain.driver.w3.eth.get_transaction_receipt(new_hash)  # type: ignore[arg-type]
    book = rig.chain.deployment.orderbook.lower()
    logs = [log for log in receipt["logs"] if str(log["address"]).lower() == book]
    for log, fill in zip(logs, old, strict=True):
        rig.emitter.emitted.append(
            EmittedFill(f"{new_hash}:{int(log['logIndex'])}", fill.symbol, fill.direction, fill.amount)
        )
    return 0


def _doomed_branch(rig: Rig, transactions: int) -> tuple[str, list[str]]:
    with rig.chain_lock:
        snapshot = rig.chain.driver.snapshot()
        hashes: list[str] = []
        for _ in range(transactions):
            made = rig.emitter.send(rig.emitter.rng.randint(1, 2))
            hashes.append(made[0].trade_id.split(":")[0])
    return snapshot, hashes


def _new_branch(rig: Rig, snapshot: str, doomed: list[str]) -> int:
    """Revert, mine an empty block (the new branch differs from the first block on), replay the first
    half of the doomed transactions in nonce order, add one new transaction. Returns fills re-included
    under their old ids."""
    w3 = rig.chain.driver.w3
    with rig.chain_lock:
        originals = [dict(w3.eth.get_transaction(h)) for h in doomed]  # type: ignore[arg-type]
        rig.chain.driver.revert(snapshot)
        rig.chain.driver.mine(1)
        reincluded = 0
        for original in originals[: math.ceil(len(originals) / 2)]:
            new_hash = _replay(rig, original)
            reincluded += _record_replay(rig, "0x" + bytes(cast(bytes, original["hash"])).hex(), new_hash)
        rig.emitter.send(1)
    return reincluded


async def reorg_round(rig: Rig, number: int, *, kill_across: bool) -> None:
    """One reorg of 3 blocks; on even rounds only after the bot recorded the doomed fills (so they must
    be retracted), on odd rounds at once; with ``kill_across`` the bot is down while the chain reorgs."""
    snapshot, doomed = await asyncio.to_thread(_doomed_branch, rig, 3)
    doomed_ids = [f.trade_id for f in rig.emitter.emitted if f.trade_id.split(":")[0] in doomed]
    retracted_before = sum(rig.view.trade_event_counts("Reorged").values())
    recorded_first = number % 2 == 0
    if recorded_first:
        await eventually(
            lambda: all(rig.view.live_counts()[t] >= 1 for t in doomed_ids), within=30, what="the doomed fills"
        )
    if kill_across:
        await rig.bot.kill9()
    reincluded = await asyncio.to_thread(_new_branch, rig, snapshot, doomed)
    if kill_across:
        await rig.bot.start()
        await rig.bot.wait_healthy()
    canonical = await asyncio.to_thread(rig.emitter.canonical)
    await eventually(lambda: settled(rig, canonical), within=60, what="the reorg handled and hedged", every=0.2)
    retracted = sum(rig.view.trade_event_counts("Reorged").values()) - retracted_before
    if recorded_first and retracted < len(doomed_ids):
        raise AssertionError(f"reorg {number}: {len(doomed_ids)} doomed fills recorded, {retracted} retracted")
    rig.notes.append(
        f"reorg{number}: doomed={len(doomed_ids)} retracted={retracted} reincluded_same_id={reincluded}"
        + (" bot_down" if kill_across else "")
    )
