"""Fill intake: keeps the ledger's chain cursor caught up with the orderbook's logs.

```
            ┌──────────── eth_subscribe logs (ws) ── wake-up hints (block numbers) ──┐
 node ──────┤                                                                       ▼
            └── eth_getLogs + block headers (http, batched) ◀── RangeReader.run_pass(cursor → target)
                                                                     │ record_range (one txn per chunk)
                                                                     ▼
                                                                FillLedger
```

* Every fill is read with ``eth_getLogs`` over block ranges starting at the verified cursor; the
  subscription is a latency shortcut (lesson 15). Backfill and live intake are the same pass, so they
  hand over by block number, never by timing (lesson 11): no gap, no duplicate (and the ledger's dedup
  makes a repeat a no-op anyway).
* Live shortcut (``confirmations == 0``): a ``newHeads`` header whose ``parentHash`` is the cursor's hash
  plus the ``logs`` notifications of that block are recorded at once (cursor := that block, one
  transaction); the pass that follows reads the block back from the verified cursor, so a block the
  subscription delivered only in part is completed and one a reorg removed is retracted
  (``RangeReader.record_notified``). Anything else — an unknown or unlinked header, a block ahead of
  the cursor, a partial ``ClearV2``/``AfterClear`` pair — is left to the range read.
* A reconciling pass also runs every ``poll_interval`` seconds, subscribed or not, so a subscription
  that silently stops delivering loses nothing. A subscription stream that ends is an error: the
  session restarts (reconnect with backoff, backfill from the cursor, subscribe again).
* Reorgs: each pass first checks that the cursor's block is still canonical; if not, the newest
  still-canonical checkpoint is the fork point and the ledger rewinds to it (``removed`` logs only
  trigger an earlier check — anvil never sends them).
* Several orderbooks, any generation: every read and the subscription cover every configured book and
  every known fill topic (the topic says which layout the data has). A book added to the configuration
  of a ledger that has a cursor already is bound with its history backfill (its deployment block through
  that cursor, recorded in the same transaction as the book: :mod:`arbtui.store.chain_binding`); the
  passes read it above the cursor at once, and its history is read in ``chunk_blocks`` steps between
  live passes (``RangeReader.backfill_step``, progress committed with each step's fills), so hedging
  latency on the other books stays bounded by one step.
* Unknown events: once per ``poll_interval``, after the pass, a :class:`~arbtui.chain.watch.TopicWatch`
  reads the blocks verified since its last look by address only and alerts once per unknown topic0.
* ``confirmations`` keeps the target that many blocks behind the head.
* An empty answer is verified, never believed: blocks within ``rescan_blocks`` of the target are checked
  against their headers' blooms and, where a bloom may hold ours, their receipts; after each pass (at most
  once per ``poll_interval``) the last ``rescan_blocks`` blocks below the cursor are re-read
  (``RangeReader.rescan``), so a log indexed late is still recorded.

Errors::

    IntakeError
    └── SubscriptionEnded    the ws stream closed or failed (restarts the session)
    (plus arbtui.chain.rpc.ChainRpcError for transport trouble, also restarting the session)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from dataclasses import dataclass

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import WebSocketException

from arbtui.chain.decode import INTAKE_TOPICS, DecodeConfig, DecodeError, RawLog
from arbtui.chain.ports import FillLedger
from arbtui.chain.pyth import PythConfig, enrichment
from arbtui.chain.ranges import MAX_UNVERIFIED, NotifiedHead, PassOutcome, RangeReader
from arbtui.chain.rpc import ChainRpcError, JsonRpcClient, RpcTransportError, endpoint_name
from arbtui.chain.signals import (
    AlertKind,
    FillEnriched,
    HeadSeen,
    IntakeAlert,
    IntakeObserver,
    IntakeState,
    IntakeStatus,
    ignore,
)
from arbtui.chain.tokens import TokenCache
from arbtui.chain.verify import LogSelector
from arbtui.chain.watch import TopicWatch
from arbtui.clock import Backoff, Jitter, Sleep
from arbtui.domain.onchain_trade import OnChainFill
from arbtui.domain.values import BlockRef, OrderbookBackfill

PREFLIGHT_TIMEOUT_S = 5.0
"""How long the start-up chain check waits for the node before leaving the check to intake's session."""
MAX_NOTIFIED_LOGS = 10_000
"""Logs notifications buffered for the live shortcut (beyond that, the range read covers them)."""
HEADS_KEPT = 64
VERIFY_AT = MAX_UNVERIFIED // 2
"""Blocks recorded from notifications after which a range read runs even if more keep coming."""
VERIFY_DELAY = 0.05
"""Seconds without notifications after which blocks recorded from them are read back."""
HEAD_WAIT = 0.02
"""Seconds logs notifications wait for their block's ``newHeads`` header (they may come first)."""


class IntakeError(Exception):
    """Intake could not continue its session."""


class SubscriptionEnded(IntakeError):
    """The log subscription closed or failed: any stream end restarts intake (lesson 15)."""


@dataclass(frozen=True)
class IntakeConfig:
    """How to reach the node and how hard to push it. Safe defaults; every field documented."""

    http_url: str
    """JSON-RPC over HTTP: logs, headers, token reads, traces (always needed)."""
    decode: DecodeConfig
    """Orderbooks, our owner, USDC address, symbol markers."""
    deployment_block: int
    """Where to start when the ledger has no cursor yet (the earliest deployment block of the books)."""
    book_deployment_blocks: tuple[tuple[str, int], ...] = ()
    """(orderbook, its deployment block) per book: where the history backfill of a book added to a ledger
    that already has a cursor starts; a book not listed starts at ``deployment_block``."""
    watch_unknown_topics: bool = True
    """Alert when a configured orderbook emits events of a topic no known generation has
    (:mod:`arbtui.chain.watch`); one address-only ``eth_getLogs`` per ``poll_interval``, off the hot path."""
    ws_url: str | None = None
    """WebSocket endpoint for the log subscription; ``None`` = HTTP polling only."""
    confirmations: int = 0
    """Ingest only blocks at least this many below the head (0 = the head itself)."""
    rescan_blocks: int = 64
    """Blocks this near the target are verified one by one (header bloom, receipts when the log answer
    is empty), and the last this many below the cursor are re-read on every reconciling pass."""
    poll_interval: float = 2.0
    """Seconds between reconciling passes (with or without a subscription)."""
    chunk_blocks: int = 1000
    """Blocks per ``eth_getLogs`` request (halved automatically if the node refuses)."""
    max_inflight_chunks: int = 4
    """Chunk requests in flight ahead of the recorder during backfill."""
    checkpoint_limit: int = 256
    """How many recorded checkpoints are searched for the fork point of a reorg."""
    reconnect_initial: float = 0.25
    """Seconds before the first restart of a failed session; doubled after each further failure."""
    reconnect_max: float = 30.0
    """Longest wait between session restarts."""
    rpc_timeout: float = 10.0
    subscribe_timeout: float = 10.0
    pyth: PythConfig | None = None
    """Pyth enrichment of new fills (traces); ``None`` = no enrichment."""
    enrich_concurrency: int = 4


def restart_backoff(config: IntakeConfig, sleep: Sleep | None = None) -> Backoff:
    """Session restarts: doubling from ``reconnect_initial`` to ``reconnect_max``, equal jitter (never under
    half the ceiling, so a flapping node is not hammered; spread, so bots behind one provider do not
    reconnect in step)."""
    return Backoff(config.reconnect_initial, config.reconnect_max, jitter=Jitter.EQUAL, sleep=sleep)


class FillIntake:
    """Run with ``await intake.run()`` (until cancelled or :meth:`stop`)."""

    def __init__(
        self,
        config: IntakeConfig,
        ledger: FillLedger,
        observer: IntakeObserver = ignore,
        *,
        sleep: Sleep | None = None,
    ) -> None:
        self.config = config
        self.ledger = ledger
        self.observer = observer
        self._sleep = sleep
        """The waits between session restarts (``None``: asyncio's)."""
        self._wake = asyncio.Event()
        self._hint = -1
        self._reader_error: BaseException | None = None
        self._stopping = False
        self._enrich_slots = asyncio.Semaphore(config.enrich_concurrency)
        self._enrich_tasks: set[asyncio.Task[None]] = set()
        self._heads: dict[int, NotifiedHead] = {}
        """Recent ``newHeads`` headers by number (the live shortcut's parent links)."""
        self._head_seen = -1
        """The newest block number signalled (:class:`HeadSeen`)."""
        self._notified: list[dict[str, object]] = []
        self._notified_at = 0.0
        """``logs`` notifications not yet handled by the live shortcut."""
        self._selector = LogSelector(config.decode.orderbooks, INTAKE_TOPICS)
        self._backfills: list[OrderbookBackfill] = []
        """History backfills of added books still to do (read from the ledger at each session start)."""
        self._watch: TopicWatch | None = None
        self._rescan_due = 0.0
        """Loop time of the next trailing re-scan (one per ``poll_interval`` at most)."""
        self._heads_subscription: str | None = None
        self.sessions = 0
        """Sessions started (1 + reconnects): tests assert that a fault really restarted intake."""
        self.passes = 0
        self._reader: RangeReader | None = None

    @property
    def notified_blocks(self) -> int:
        """Blocks recorded straight from notifications (the live shortcut) so far."""
        return self._reader.notified_blocks if self._reader is not None else 0

    @property
    def unverified_blocks(self) -> int:
        """Blocks recorded from notifications and not yet read back with ``eth_getLogs``."""
        return self._reader.unverified_blocks if self._reader is not None else 0

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    def wake(self) -> None:
        """Run a reconciling pass now (e.g. the engine knows a block arrived)."""
        self._wake.set()

    async def run(self) -> None:
        client = JsonRpcClient(self.config.http_url, timeout=self.config.rpc_timeout)
        reader = RangeReader(
            client,
            self.ledger,
            TokenCache(client),
            self.config.decode,
            self.observer,
            deployment_block=self.config.deployment_block,
            chunk_blocks=self.config.chunk_blocks,
            max_inflight_chunks=self.config.max_inflight_chunks,
            checkpoint_limit=self.config.checkpoint_limit,
            rescan_blocks=self.config.rescan_blocks,
            endpoint=endpoint_name(self.config.http_url),
            on_new_fills=self._enrich_later if self.config.pyth is not None else None,
        )
        self._client = client
        self._reader = reader
        if self.config.watch_unknown_topics:
            self._watch = TopicWatch(
                client,
                self.config.decode.orderbooks,
                self.observer,
                max_blocks=self.config.rescan_blocks,
                floor=self.config.deployment_block,
            )
        restarts = restart_backoff(self.config, self._sleep)
        try:
            while not self._stopping:
                self.observer(IntakeStatus(IntakeState.CONNECTING if self.sessions == 0 else IntakeState.RECONNECTING))
                try:
                    await self._session(reader)
                    restarts.reset()
                except (ChainRpcError, IntakeError, DecodeError, OSError) as exc:
                    kind = (
                        AlertKind.SUBSCRIPTION_ENDED
                        if isinstance(exc, SubscriptionEnded)
                        else AlertKind.CONNECTION_LOST
                    )
                    delay = restarts.next_delay()
                    self.observer(IntakeAlert(kind, f"intake session failed, restarting in {delay:.2f}s: {exc}",
                                              {"error": type(exc).__name__}))  # fmt: skip
                    await restarts.sleep(delay)
        finally:
            for task in self._enrich_tasks:
                task.cancel()
            await asyncio.gather(*self._enrich_tasks, return_exceptions=True)
            await client.close()
            self.observer(IntakeStatus(IntakeState.STOPPED))

    async def bind_chain(self, client: JsonRpcClient | None = None) -> int:
        """Ask the node which chain it serves and bind the ledger to it (:meth:`FillLedger.bind_chain`
        refuses a ledger of another chain: that error is not retried, it stops intake). Returns the id."""
        owned = client is None
        client = client or JsonRpcClient(self.config.http_url, timeout=self.config.rpc_timeout)
        try:
            answer = await client.call("eth_chainId")
        finally:
            if owned:
                await client.close()
        if not isinstance(answer, str) or not answer.startswith("0x"):
            raise RpcTransportError("eth_chainId", f"expected a hex quantity, got {answer!r:.80}")
        try:
            chain_id = int(answer, 16)
        except ValueError:
            raise RpcTransportError("eth_chainId", f"expected a hex quantity, got {answer!r:.80}") from None
        await self.ledger.bind_chain(chain_id, self.config.decode.orderbooks, self.deployment_blocks())
        return chain_id

    def deployment_blocks(self) -> dict[str, int]:
        """Each configured orderbook's deployment block (where an added book's history backfill starts)."""
        listed = {address.lower(): block for address, block in self.config.book_deployment_blocks}
        return {book: listed.get(book, self.config.deployment_block) for book in self.config.decode.orderbooks}

    async def prepare(self) -> None:
        """One chain per ledger, checked before the engine recovers anything: a ledger of another chain
        is refused here (:class:`~arbtui.store.errors.ChainMismatch` propagates). A node that does not
        answer within :data:`PREFLIGHT_TIMEOUT_S` is not an error — each session binds the ledger before
        it reads anything, and so refuses it there."""
        try:
            async with asyncio.timeout(PREFLIGHT_TIMEOUT_S):
                chain_id = await self.bind_chain()
        except (ChainRpcError, OSError, TimeoutError) as exc:
            detail = f"chain id not checked at start ({exc or type(exc).__name__}): checked before reading the chain"
        else:
            detail = f"ledger bound to chain id {chain_id}"
        self.observer(IntakeStatus(IntakeState.CONNECTING, detail))

    async def _session(self, reader: RangeReader) -> None:
        self.sessions += 1
        await self.bind_chain(self._client)  # every session: the node behind the URL may have changed
        self._reader_error = None
        self._heads.clear()
        self._notified.clear()
        self._heads_subscription = None
        subscription: asyncio.Task[None] | None = None
        try:
            if self.config.ws_url is not None:
                ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                subscription = asyncio.create_task(self._subscribe(self.config.ws_url, ready))
                # subscribed before backfill starts: nothing between the two can be missed
                await asyncio.wait_for(asyncio.shield(ready), self.config.subscribe_timeout)
            self._backfills = await self.ledger.orderbook_backfills()
            reader.held_back = {task.orderbook: task.through_block for task in self._backfills}
            self.observer(IntakeStatus(IntakeState.BACKFILLING))
            await self._catch_up(reader, backfill=True)
            self.observer(IntakeStatus(IntakeState.LIVE))
            while not self._stopping:
                # blocks recorded from notifications are read back as soon as intake is idle
                wait = self.config.poll_interval
                if self._notified:
                    wait = HEAD_WAIT
                elif reader.unverified_blocks:
                    wait = min(VERIFY_DELAY, wait)
                if self._backfills and not self._notified:
                    await self._backfill_step(reader)  # one step of an added book's history between passes
                    wait = 0 if self._backfills else wait
                if not self._wake.is_set():
                    # asyncio.timeout, not wait_for: no task per wake-up, so a notification is handled
                    # one event-loop turn sooner
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(wait):
                            await self._wake.wait()
                self._wake.clear()
                if self._reader_error is not None:
                    raise SubscriptionEnded(str(self._reader_error)) from self._reader_error
                if not self._stopping:
                    await self._catch_up(reader, backfill=False)
        except TimeoutError as exc:
            raise SubscriptionEnded(f"no eth_subscribe answer within {self.config.subscribe_timeout}s") from exc
        finally:
            if subscription is not None:
                subscription.cancel()
                with contextlib.suppress(asyncio.CancelledError, SubscriptionEnded):
                    await subscription

    async def _catch_up(self, reader: RangeReader, *, backfill: bool) -> None:
        """Passes until the target is reached (a reorg or a smaller chunk size means: go again)."""
        for _ in range(64):
            if self._notified and not backfill:
                waiting = await self._record_notified(reader)
                if self._hint >= 0 and reader.unverified_blocks < VERIFY_AT:
                    if waiting:
                        return  # logs wait (briefly) for their header; the next wake-up tries again
                    if reader.recorded_through(self._hint):
                        self._hint = -1  # all recorded from notifications: read back when idle (or at VERIFY_AT)
                        return
            hint = self._hint
            if self.config.confirmations == 0 and not backfill and hint >= 0:
                target = hint  # the notification's block: its header is fetched in the same batch anyway
                self._hint = -1
            else:
                head = int(str(await self._client.call("eth_blockNumber")), 16)
                self._saw_head(head)
                target = head - self.config.confirmations
            self.passes += 1
            result = await reader.run_pass(target, report_progress=backfill)
            if result.outcome in (PassOutcome.DONE, PassOutcome.NODE_BEHIND, PassOutcome.UNCONFIRMED):
                if result.outcome is PassOutcome.DONE and self._hint > target:
                    continue  # more blocks were announced while recording
                await self._rescan(reader)
                return

    async def _rescan(self, reader: RangeReader) -> None:
        """The trailing re-scan and the unknown-topic watch, at most once per ``poll_interval`` (after the
        pass: never ahead of a new fill)."""
        now = asyncio.get_running_loop().time()
        if now >= self._rescan_due:
            self._rescan_due = now + self.config.poll_interval
            await reader.rescan()
            if self._watch is not None:
                await self._watch.check(reader.verified_through)

    async def _backfill_step(self, reader: RangeReader) -> None:
        """One step of the first pending orderbook history backfill; drops it from the list when done."""
        task = self._backfills[0]
        done = await reader.backfill_step(task)
        if done.complete:
            self._backfills.pop(0)
        else:
            self._backfills[0] = done

    async def _record_notified(self, reader: RangeReader) -> bool:
        """The live shortcut: record notified blocks, oldest first, while each one can be (see
        ``RangeReader.record_notified``); the rest is left to the range read the hint asks for. Returns
        True if logs were put back to wait for their header (for :data:`HEAD_WAIT` seconds at most)."""
        pending, self._notified = self._notified, []
        by_block: dict[tuple[int, str], list[tuple[dict[str, object], RawLog]]] = {}
        try:
            for item in pending:
                log = RawLog.from_rpc(item)
                by_block.setdefault((log.block_number, log.block_hash), []).append((item, log))
        except DecodeError:
            return False  # a broken envelope: the range read reports it
        blocks = sorted(by_block.items())
        for index, ((number, block_hash), entries) in enumerate(blocks):
            head = self._heads.get(number)
            if head is None and asyncio.get_running_loop().time() - self._notified_at < HEAD_WAIT:
                self._notified = [item for _, rest in blocks[index:] for item, _ in rest] + self._notified
                return True
            if head is None or head.ref.hash != block_hash:
                return False
            if not await reader.record_notified(head, [log for _, log in entries], self._between(reader, head)):
                return False
        return False

    def _between(self, reader: RangeReader, head: NotifiedHead) -> list[NotifiedHead]:
        """Known headers from just above the cursor up to ``head``'s parent (may be incomplete: the
        reader checks every link)."""
        cursor = reader.recorded_cursor
        if cursor is None:
            return []
        found = [self._heads.get(n) for n in range(cursor.number + 1, head.ref.number)]
        return [h for h in found if h is not None]

    async def _subscribe(self, url: str, ready: asyncio.Future[None]) -> None:
        """Reads notifications into wake-up hints (and, with ``confirmations == 0``, headers and logs
        for the live shortcut). Always ends by recording an error (stream end = error)."""
        logs_request = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_subscribe",
            "params": ["logs", {"address": list(self.config.decode.orderbooks), "topics": [list(INTAKE_TOPICS)]}],
        }
        heads_request = {"jsonrpc": "2.0", "id": 2, "method": "eth_subscribe", "params": ["newHeads"]}
        try:
            async with websockets.connect(url, max_size=2**24, open_timeout=self.config.subscribe_timeout) as ws:
                await ws.send(json.dumps(logs_request))
                answer = json.loads(await ws.recv())
                if not isinstance(answer, dict) or not isinstance(answer.get("result"), str):
                    raise SubscriptionEnded(f"eth_subscribe refused: {answer!r:.200}")
                if self.config.confirmations == 0:
                    # optional: a node without newHeads only loses the shortcut
                    await ws.send(json.dumps(heads_request))
                    async for message in ws:
                        _quick_ack(ws)
                        reply = json.loads(message)
                        if isinstance(reply, dict) and reply.get("id") == heads_request["id"]:
                            result = reply.get("result")
                            self._heads_subscription = result if isinstance(result, str) else None
                            break
                        self._on_notification(message)
                ready.set_result(None)
                async for message in ws:
                    _quick_ack(ws)
                    self._on_notification(message)
            raise SubscriptionEnded("the node closed the subscription stream")
        except (WebSocketException, OSError, json.JSONDecodeError, SubscriptionEnded, TimeoutError) as exc:
            error = exc if isinstance(exc, SubscriptionEnded) else SubscriptionEnded(f"{type(exc).__name__}: {exc}")
            if not ready.done():
                ready.set_exception(error)
            self._reader_error = error
            self._wake.set()
            raise error from exc

    def _on_notification(self, message: str | bytes) -> None:
        try:
            payload = json.loads(message)
            params = payload["params"]
            if self._heads_subscription is not None and params["subscription"] == self._heads_subscription:
                self._on_head(params["result"])
                return
            log = params["result"]
            block = int(str(log["blockNumber"]), 16)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            self._wake.set()  # unreadable notification: reconcile anyway
            return
        if log.get("removed"):
            self.observer(IntakeAlert(AlertKind.REORG, f"node reports a removed log in block {block}", {}))
        elif self._heads_subscription is not None and len(self._notified) < MAX_NOTIFIED_LOGS:
            if not self._notified:
                self._notified_at = asyncio.get_running_loop().time()
            self._notified.append(log)
        self._hint = max(self._hint, block)
        self._wake.set()

    def _saw_head(self, number: int) -> None:
        if number > self._head_seen:
            self._head_seen = number
            self.observer(HeadSeen(number))

    def _on_head(self, header: dict[str, object]) -> None:
        """Remember a ``newHeads`` header (a wake-up only for logs waiting for it)."""
        number = int(str(header["number"]), 16)
        ref = BlockRef(number, str(header["hash"]).lower())
        bloom = header.get("logsBloom")
        self._heads[number] = NotifiedHead(ref, str(header["parentHash"]).lower(), self._selector.may_hold(bloom))
        self._saw_head(number)
        for old in [n for n in self._heads if n <= number - HEADS_KEPT or n > number]:
            del self._heads[old]  # older ones, and those of a branch a reorg replaced
        if self._notified:
            self._wake.set()  # logs may be waiting for this header

    async def _enrich_later(self, fills: list[OnChainFill]) -> None:
        by_tx: dict[str, list[OnChainFill]] = {}
        for fill in fills:
            by_tx.setdefault(fill.trade_id.tx_hash, []).append(fill)
        for tx_hash, tx_fills in by_tx.items():
            task = asyncio.create_task(self._enrich_tx(tx_hash, tx_fills), name=f"enrich {tx_hash}")
            self._enrich_tasks.add(task)
            task.add_done_callback(self._enrich_done)

    async def _enrich_tx(self, tx_hash: str, fills: list[OnChainFill]) -> None:
        assert self.config.pyth is not None
        async with self._enrich_slots:
            results = await enrichment(
                self._client, tx_hash, [f.symbol for f in fills], self.config.pyth, fills[0].block_number
            )
            for fill, result in zip(fills, results, strict=True):
                await self.ledger.enrich(fill.trade_id, result)
                self.observer(FillEnriched(fill.trade_id, result))

    def _enrich_done(self, task: asyncio.Task[None]) -> None:
        self._enrich_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.observer(IntakeAlert(AlertKind.ENRICHMENT_FAILED, f"{task.get_name()}: {task.exception()!r}", {}))

    async def drain_enrichment(self) -> None:
        """Wait for enrichment already started (tests, shutdown)."""
        while self._enrich_tasks:
            await asyncio.gather(*list(self._enrich_tasks), return_exceptions=True)


def _quick_ack(ws: ClientConnection) -> None:
    """Acknowledge what arrives at once (Linux ``TCP_QUICKACK``, re-armed after each message): a node
    whose socket runs Nagle holds its next notification until our ACK, which the kernel may otherwise
    delay by ~40 ms."""
    option = getattr(socket, "TCP_QUICKACK", None)
    sock = ws.transport.get_extra_info("socket") if ws.transport is not None else None
    if option is not None and sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, option, 1)
