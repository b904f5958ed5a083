"""Fixtures for the HTTP service tests: the real aiohttp server on a free loopback port, in front of
:class:`RecordingControl` — a small, real implementation of :class:`~arbtui.engine.ports.OperatorControl`
that keeps its state in memory and refuses conflicts with the same typed errors as the engine (the engine
itself is not built yet; when it is, these tests can point at it instead)."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter
from pydantic import SecretStr

from arbtui.api.http import build_app, serve
from arbtui.domain.errors import ControlStateConflict, ExecutionPending, InvalidCommand, KillSwitchEngaged
from arbtui.domain.values import Direction, ExecutionId, Shares, Symbol
from arbtui.engine.ports import Check, Readiness
from arbtui.store.errors import DatabaseUnavailable

LOOPBACK = "127.0.0.1"
ALL = "*"
"""How :class:`RecordingControl` names the pause of every symbol."""


@dataclass(frozen=True)
class Call:
    """One accepted control action, as the engine would record it."""

    action: str
    actor: str
    reason: str
    symbol: Symbol | None = None
    direction: Direction | None = None
    shares: Shares | None = None
    execution_id: ExecutionId | None = None
    allow_overhedge: bool = False


@dataclass
class RecordingControl:
    """Operator control kept in memory. Rules (a subset of the engine's): a pause or resume must change
    something, the kill switch engages and clears once, a manual hedge is refused while the kill switch is
    engaged or the symbol already has one in flight, and is malformed for a symbol not configured.
    ``ledger_down`` makes every action fail as the store would; nothing is recorded when one is refused."""

    checks: dict[str, Check] = field(
        default_factory=lambda: {"chain": Check(True), "broker": Check(True), "database": Check(True)}
    )
    calls: list[Call] = field(default_factory=list)
    paused: set[str] = field(default_factory=set)
    killed: bool = False
    in_flight: dict[Symbol, ExecutionId] = field(default_factory=dict)
    symbols: frozenset[str] = frozenset({"AAPL", "TSLA", "BRK.B"})
    ledger_down: bool = False
    readiness_delay: float = 0.0
    hedge_delay: float = 0.0
    """Seconds a manual hedge takes before it is recorded (a slow broker)."""

    async def pause(self, symbol: Symbol | None, *, actor: str, reason: str) -> None:
        key = self._admit(reason, symbol)
        if key in self.paused:
            raise ControlStateConflict("Control", key, "already paused")
        self.paused.add(key)
        self.calls.append(Call("pause", actor, reason, symbol=symbol))

    async def resume(self, symbol: Symbol | None, *, actor: str, reason: str) -> None:
        key = self._admit(reason, symbol)
        if key not in self.paused:
            raise ControlStateConflict("Control", key, "not paused")
        self.paused.remove(key)
        self.calls.append(Call("resume", actor, reason, symbol=symbol))

    async def engage_kill_switch(self, *, actor: str, reason: str) -> None:
        self._admit(reason, None)
        if self.killed:
            raise ControlStateConflict("Control", ALL, "kill switch already engaged")
        self.killed = True
        self.calls.append(Call("kill", actor, reason))

    async def clear_kill_switch(self, *, actor: str, reason: str) -> None:
        self._admit(reason, None)
        if not self.killed:
            raise ControlStateConflict("Control", ALL, "kill switch is not engaged")
        self.killed = False
        self.calls.append(Call("clear-kill", actor, reason))

    async def manual_hedge(
        self,
        symbol: Symbol,
        direction: Direction,
        shares: Shares,
        *,
        actor: str,
        reason: str,
        allow_overhedge: bool = False,
    ) -> ExecutionId:
        self._admit(reason, symbol)
        if symbol not in self.symbols:
            raise InvalidCommand("Position", symbol, "not a configured symbol")
        if not shares.is_positive:
            raise InvalidCommand("Position", symbol, f"shares must be positive, got {shares}")
        if self.killed:
            raise KillSwitchEngaged("Position", symbol, "kill switch engaged: manual hedges are refused")
        if symbol in self.in_flight:
            raise ExecutionPending("Position", symbol, f"execution {self.in_flight[symbol]} is still in flight")
        if self.hedge_delay:
            await asyncio.sleep(self.hedge_delay)
        execution_id = ExecutionId(str(uuid.uuid4()))
        self.in_flight[symbol] = execution_id
        self.calls.append(
            Call(
                "hedge",
                actor,
                reason,
                symbol=symbol,
                direction=direction,
                shares=shares,
                execution_id=execution_id,
                allow_overhedge=allow_overhedge,
            )
        )
        return execution_id

    async def readiness(self) -> Readiness:
        if self.readiness_delay:
            await asyncio.sleep(self.readiness_delay)
        if self.ledger_down:
            raise DatabaseUnavailable("arbtui.db: database is locked")
        return Readiness(dict(self.checks))

    def _admit(self, reason: str, symbol: Symbol | None) -> str:
        if self.ledger_down:
            raise DatabaseUnavailable("arbtui.db: database is locked")
        if not reason.strip():
            raise InvalidCommand("Control", symbol or ALL, "a reason is required")
        return symbol or ALL


@dataclass(frozen=True)
class RunningApi:
    url: str
    token: str | None
    control: RecordingControl
    registry: CollectorRegistry

    def auth(self, token: str | None = None) -> dict[str, str]:
        value = token if token is not None else self.token
        assert value is not None
        return {"Authorization": f"Bearer {value}"}


@pytest.fixture
def token() -> str:
    return "ctl-" + secrets.token_urlsafe(32)


@pytest.fixture
def registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    fills = Counter("arbtui_fills", "Onchain fills recorded", ["symbol"], registry=registry)
    fills.labels(symbol="AAPL").inc(3)
    return registry


@pytest.fixture
def control() -> RecordingControl:
    return RecordingControl()


async def _run(control: RecordingControl, registry: CollectorRegistry, token: str | None) -> AsyncIterator[RunningApi]:
    app = build_app(control, control, registry, control_token=SecretStr(token) if token is not None else None)
    async with serve(app, LOOPBACK, 0) as address:
        yield RunningApi(address.url, token, control, registry)


@pytest.fixture
async def api(control: RecordingControl, registry: CollectorRegistry, token: str) -> AsyncIterator[RunningApi]:
    """The service with control enabled (token set)."""
    async for running in _run(control, registry, token):
        yield running


@pytest.fixture
async def api_without_token(control: RecordingControl, registry: CollectorRegistry) -> AsyncIterator[RunningApi]:
    """The service started without ``ARBTUI_CONTROL_TOKEN``: control disabled."""
    async for running in _run(control, registry, None):
        yield running


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client
