"""Deploy the test contracts on anvil and drive them (synchronous web3 over HTTP, one call at a time).

Async tests call the driver through ``asyncio.to_thread`` so transactions go out on their own
connection, never on the subscription's socket.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.types import TxParams, TxReceipt, Wei

from arbtui.demo.artifacts import Artifact

OUR_OWNER = Web3.to_checksum_address("0x71b94911fd1ce621fc40970450004c544e5287a8")
OTHER_OWNER = Web3.to_checksum_address("0x00000000000000000000000000000000000b0b00")
AAPL_FEED = "0x49f6b65cb1de6b10eaf75e7c03ca029c306d0357e91b5311b175084a5ad55688"
MSFT_FEED = "0xd0ca23c1cc005e004ccf1db5bf76aeb6a49218f43dac3d4b275e92de12ded4d1"
NVDA_FEED = "0xb1073854ed24cbc755dc527418f52b7d271f6cc967bbf8d8129112b18860a593"
TX_GAS = 25_000_000

IOTuple = tuple[str, int, int]
OrderTuple = tuple[str, tuple[str, str, bytes], list[IOTuple], list[IOTuple], bytes]
IOV2Tuple = tuple[str, bytes]
OrderV4Tuple = tuple[str, tuple[str, str, bytes], list[IOV2Tuple], list[IOV2Tuple], bytes]
"""An ``OrderV4`` (V5/V6): IOs are (token, bytes32 vault id), no decimals."""


@dataclass(frozen=True)
class Sent:
    """A mined transaction."""

    tx_hash: str
    block_number: int
    block_hash: str
    gas_used: int


@dataclass(frozen=True)
class Deployment:
    """Addresses of everything deployed for one chain session."""

    orderbook: ChecksumAddress
    bytes32_emitter: ChecksumAddress
    pyth: ChecksumAddress
    pyth_proxy: ChecksumAddress
    usdc: ChecksumAddress
    tokens: dict[str, ChecksumAddress]
    """By name: tAAPL, AAPL0x, NVDAs1, tMSFT, fakeUSDC, reverting, absurd, garbage, plainAAPL, tesla."""
    orderbook_v6: ChecksumAddress
    """The V5/V6 orderbook stand-in (``OrderBookV6StandIn``: Float amounts, ``vaultBalance2``)."""


def order(
    owner: str,
    inputs: Sequence[tuple[str, int]],
    outputs: Sequence[tuple[str, int]],
    nonce: int = 1,
    vault_id: int = 7,
) -> OrderTuple:
    """An ``OrderV3`` tuple: inputs/outputs as (token, declared decimals)."""
    evaluable = ("0x" + "11" * 20, "0x" + "22" * 20, b"\x01\x02")
    return (
        owner,
        (Web3.to_checksum_address(evaluable[0]), Web3.to_checksum_address(evaluable[1]), evaluable[2]),
        [(token, decimals, vault_id) for token, decimals in inputs],
        [(token, decimals, vault_id) for token, decimals in outputs],
        nonce.to_bytes(32, "big"),
    )


def order_v6(owner: str, inputs: Sequence[str], outputs: Sequence[str], nonce: int = 1, vault_id: int = 7
             ) -> OrderV4Tuple:  # fmt: skip
    """An ``OrderV4`` tuple (V5/V6): inputs/outputs are token addresses; vault id 0 = vaultless."""
    evaluable = ("0x" + "11" * 20, "0x" + "22" * 20, b"\x01\x02")
    vault = vault_id.to_bytes(32, "big")
    return (
        owner,
        (Web3.to_checksum_address(evaluable[0]), Web3.to_checksum_address(evaluable[1]), evaluable[2]),
        [(token, vault) for token in inputs],
        [(token, vault) for token in outputs],
        nonce.to_bytes(32, "big"),
    )


class ChainDriver:
    """Sends the transactions a test needs. Thread-safe: one request at a time."""

    def __init__(self, http_url: str, deployment: Deployment, artifacts: dict[str, Artifact]) -> None:
        self.w3 = Web3(Web3.HTTPProvider(http_url, request_kwargs={"timeout": 30}))
        self.deployment = deployment
        self.sender: ChecksumAddress = self.w3.eth.accounts[0]
        self._lock = threading.Lock()
        self.orderbook = self._at("OrderBookStandIn", deployment.orderbook, artifacts)
        self.orderbook_v6 = self._at("OrderBookV6StandIn", deployment.orderbook_v6, artifacts)
        self.bytes32_emitter = self._at("TakeOrderBytes32Emitter", deployment.bytes32_emitter, artifacts)
        self.pyth = self._at("MockPyth", deployment.pyth, artifacts)
        self._token_abi = artifacts["TestToken"].abi

    def _at(self, name: str, address: ChecksumAddress, artifacts: dict[str, Artifact]) -> Contract:
        return self.w3.eth.contract(address=address, abi=artifacts[name].abi)

    def _send(self, call: Any, value: int = 0, sender: ChecksumAddress | None = None) -> Sent:
        params: TxParams = {"from": sender or self.sender, "gas": TX_GAS, "value": Wei(value)}
        with self._lock:
            tx_hash = call.transact(params)
            receipt: TxReceipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
        if receipt["status"] != 1:
            raise RuntimeError(f"transaction {tx_hash.hex()} reverted")
        return Sent(
            tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
            block_number=receipt["blockNumber"],
            block_hash="0x" + bytes(receipt["blockHash"]).hex(),
            gas_used=receipt["gasUsed"],
        )

    # --- orderbook events ---------------------------------------------------------------------
    def take(
        self,
        takes: Sequence[tuple[OrderTuple, int, int, int, int]],
        *,
        pyth_feeds: Sequence[str] = (),
        max_age: int = 10**9,
        bytes32_form: bool = False,
    ) -> Sent:
        """One transaction taking several orders: (order, inputIOIndex, outputIOIndex, input, output),
        input/output from the taker's side as the event carries them."""
        configs: list[tuple[object, ...]] = [(o, i, j, []) for o, i, j, _, _ in takes]
        inputs = [t[3] for t in takes]
        outputs = [t[4] for t in takes]
        if bytes32_form:
            return self._send(self.bytes32_emitter.functions.takeOrders(configs, inputs, outputs))
        feeds = [HexBytes(f) for f in pyth_feeds]
        return self._send(self.orderbook.functions.takeOrders(configs, inputs, outputs, feeds, max_age))

    def take_repeated(
        self, taken: OrderTuple, input_io: int, output_io: int, amount_in: int, amount_out: int, count: int
    ) -> Sent:
        config: tuple[object, ...] = (taken, input_io, output_io, [])
        return self._send(self.orderbook.functions.takeOrderRepeated(config, amount_in, amount_out, count))

    def clear(
        self,
        alice: OrderTuple,
        bob: OrderTuple,
        io_indexes: tuple[int, int, int, int],
        change: tuple[int, int, int, int],
        *,
        emit_after_clear: bool = True,
        pyth_feeds: Sequence[str] = (),
    ) -> Sent:
        """ClearV2 (+ AfterClear). ``change`` = (aliceOutput, bobOutput, aliceInput, bobInput)."""
        clear_config = (*io_indexes, 0, 0)
        feeds = [HexBytes(f) for f in pyth_feeds]
        return self._send(
            self.orderbook.functions.clear(alice, bob, clear_config, change, emit_after_clear, feeds, 10**9)
        )

    def raw_log(self, topics: Sequence[str], data: bytes) -> Sent:
        return self._send(self.orderbook.functions.rawLog([HexBytes(t) for t in topics], data))

    # --- the V5/V6 orderbook (Float amounts: bytes32 each, made by the caller) -------------------------
    def take_v6(
        self,
        takes: Sequence[tuple[OrderV4Tuple, int, int, bytes, bytes]],
        *,
        pyth_feeds: Sequence[str] = (),
        max_age: int = 10**9,
    ) -> Sent:
        """One transaction of ``TakeOrderV3`` events: (order, inputIOIndex, outputIOIndex, input Float,
        output Float), input/output from the taker's side as the event carries them."""
        configs: list[tuple[object, ...]] = [(o, i, j, []) for o, i, j, _, _ in takes]
        feeds = [HexBytes(f) for f in pyth_feeds]
        return self._send(
            self.orderbook_v6.functions.takeOrders(
                configs, [t[3] for t in takes], [t[4] for t in takes], feeds, max_age
            )
        )

    def take_v6_repeated(self, taken: OrderV4Tuple, amount_in: bytes, amount_out: bytes, count: int) -> Sent:
        config: tuple[object, ...] = (taken, 0, 0, [])
        return self._send(self.orderbook_v6.functions.takeOrderRepeated(config, amount_in, amount_out, count))

    def clear_v6(
        self,
        alice: OrderV4Tuple,
        bob: OrderV4Tuple,
        io_indexes: tuple[int, int, int, int],
        change: tuple[bytes, bytes, bytes, bytes],
        *,
        emit_after_clear: bool = True,
        pyth_feeds: Sequence[str] = (),
    ) -> Sent:
        """ClearV3 (+ AfterClearV2). ``change`` = Floats (aliceOutput, bobOutput, aliceInput, bobInput)."""
        clear_config = (*io_indexes, b"\x00" * 32, b"\x00" * 32)
        feeds = [HexBytes(f) for f in pyth_feeds]
        return self._send(
            self.orderbook_v6.functions.clear(alice, bob, clear_config, change, emit_after_clear, feeds, 10**9)
        )

    def raw_log_v6(self, topics: Sequence[str], data: bytes) -> Sent:
        return self._send(self.orderbook_v6.functions.rawLog([HexBytes(t) for t in topics], data))

    def set_vault_balance2(self, owner: str, token: str, vault_id: int, balance: bytes) -> Sent:
        """Set a V6 vault's Float balance (what ``vaultBalance2`` then answers)."""
        return self._send(
            self.orderbook_v6.functions.setVaultBalance2(owner, token, vault_id.to_bytes(32, "big"), balance)
        )

    def deposit_as(self, owner: str, token: str, vault_id: int, amount: int) -> None:
        """A real deposit into ``owner``'s vault of the V4 stand-in: ``amount`` base units of ``token`` (a
        ``TestToken``) minted to ``owner``, approved and deposited by ``owner`` itself — anvil impersonates
        it (no key needed), so the tokens really move from its wallet into the book."""
        who = Web3.to_checksum_address(owner)
        erc20 = self.w3.eth.contract(address=Web3.to_checksum_address(token), abi=self._token_abi)
        with self._lock:
            self.w3.provider.make_request("anvil_impersonateAccount", [who])  # type: ignore[arg-type]
            self.w3.provider.make_request("anvil_setBalance", [who, hex(10**20)])  # type: ignore[arg-type]
        try:
            self._send(erc20.functions.mint(who, amount))
            self._send(erc20.functions.approve(self.orderbook.address, amount), sender=who)
            self._send(self.orderbook.functions.deposit(erc20.address, vault_id, amount), sender=who)
        finally:
            with self._lock:
                self.w3.provider.make_request("anvil_stopImpersonatingAccount", [who])  # type: ignore[arg-type]

    # --- pyth -----------------------------------------------------------------------------------
    def push_price(self, feed_id: str, price: int, conf: int, expo: int) -> int:
        """Push a price into MockPyth stamped with the latest block's time; returns the publish time."""
        publish_time = int(self.w3.eth.get_block("latest")["timestamp"]) + 1
        update = self.pyth.functions.createPriceFeedUpdateData(
            HexBytes(feed_id), price, conf, expo, price, conf, publish_time, publish_time - 1
        ).call()
        fee = self.pyth.functions.getUpdateFee([update]).call()
        self._send(self.pyth.functions.updatePriceFeeds([update]), value=fee)
        return publish_time

    def push_prices(self, prices: Sequence[tuple[str, int, int, int]]) -> int:
        """Push several (feed id, price, conf, expo) into MockPyth in one transaction, stamped with the
        latest block's time; returns the publish time."""
        publish_time = int(self.w3.eth.get_block("latest")["timestamp"]) + 1
        updates = [
            self.pyth.functions.createPriceFeedUpdateData(
                HexBytes(feed_id), price, conf, expo, price, conf, publish_time, publish_time - 1
            ).call()
            for feed_id, price, conf, expo in prices
        ]
        fee = self.pyth.functions.getUpdateFee(updates).call()
        self._send(self.pyth.functions.updatePriceFeeds(updates), value=fee)
        return publish_time

    # --- chain control --------------------------------------------------------------------------
    def snapshot(self) -> str:
        with self._lock:
            return cast(str, self.w3.provider.make_request("evm_snapshot", [])["result"])  # type: ignore[arg-type]

    def revert(self, snapshot_id: str) -> None:
        with self._lock:
            answer = self.w3.provider.make_request("evm_revert", [snapshot_id])  # type: ignore[arg-type]
        if answer.get("result") is not True:
            raise RuntimeError(f"evm_revert({snapshot_id}) failed: {answer}")

    def mine(self, blocks: int = 1) -> None:
        with self._lock:
            for _ in range(blocks):
                self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    def head(self) -> int:
        with self._lock:
            return int(self.w3.eth.block_number)


def deployer(http_url: str, artifacts: dict[str, Artifact]) -> Callable[..., ChecksumAddress]:
    """``deploy(contract name, *constructor args) -> address``, sent from anvil's first account."""
    w3 = Web3(Web3.HTTPProvider(http_url, request_kwargs={"timeout": 30}))
    sender = w3.eth.accounts[0]

    def deploy(name: str, *args: object) -> ChecksumAddress:
        artifact = artifacts[name]
        factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        tx_hash = factory.constructor(*args).transact({"from": sender, "gas": TX_GAS})
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
        address = receipt["contractAddress"]
        assert address is not None
        return address

    return deploy


def deploy_demo(
    http_url: str,
    artifacts: dict[str, Artifact],
    tokens: Sequence[tuple[str, int]],
    wrappers: Sequence[tuple[str, str, int, int]] = (),
) -> Deployment:
    """The demo's world: MockPyth, USDC, one ``TestToken`` per (symbol, decimals) — named by its symbol
    in :attr:`Deployment.tokens` — one ERC-4626 ``TestVault`` per (symbol, underlying symbol, rate
    numerator, rate denominator) over that token and in its decimals (also in :attr:`Deployment.tokens`),
    and the V4 and V6 orderbook stand-ins reading that MockPyth."""
    deploy = deployer(http_url, artifacts)
    pyth = deploy("MockPyth", 60, 1)
    usdc = deploy("TestToken", "USD Coin", "USDC", 6)
    deployed = {symbol: deploy("TestToken", f"Demo {symbol}", symbol, decimals) for symbol, decimals in tokens}
    decimals_of = dict(tokens)
    for symbol, underlying, numerator, denominator in wrappers:
        deployed[symbol] = deploy(
            "TestVault", symbol, decimals_of[underlying], deployed[underlying], numerator, denominator
        )
    return Deployment(
        orderbook=deploy("OrderBookStandIn", pyth),
        bytes32_emitter=deploy("TakeOrderBytes32Emitter"),
        pyth=pyth,
        pyth_proxy=deploy("DelegatingProxy", pyth),
        usdc=usdc,
        tokens=deployed,
        orderbook_v6=deploy("OrderBookV6StandIn", pyth),
    )


def deploy_all(http_url: str, artifacts: dict[str, Artifact]) -> Deployment:
    deploy = deployer(http_url, artifacts)

    pyth = deploy("MockPyth", 60, 1)
    pyth_proxy = deploy("DelegatingProxy", pyth)
    tokens = {
        "tAAPL": deploy("TestToken", "Tokenized Apple", "tAAPL", 18),
        "AAPL0x": deploy("TestToken", "Apple 0x", "AAPL0x", 18),
        "NVDAs1": deploy("TestToken", "Nvidia s1", "NVDAs1", 9),
        "tMSFT": deploy("TestToken", "Tokenized Microsoft", "tMSFT", 18),
        "fakeUSDC": deploy("TestToken", "Not USD Coin", "USDC", 6),
        "reverting": deploy("RevertingSymbolToken", 18),
        "absurd": deploy("TestToken", "Absurd", "tABSD", 77),
        "garbage": deploy("GarbageSymbolToken"),
        "plainAAPL": deploy("TestToken", "Plain", "AAPL", 18),
        "tesla": deploy("TestToken", "lowercase", "tesla", 18),
        "ambiguous": deploy("TestToken", "Two markers", "tAAPL0x", 18),
    }
    usdc = deploy("TestToken", "USD Coin", "USDC", 6)
    orderbook = deploy("OrderBookStandIn", pyth)
    bytes32_emitter = deploy("TakeOrderBytes32Emitter")
    # deployed last, so every address above stays what it was before the V6 stand-in existed
    tokens["tBRK"] = deploy("TestToken", "Two decimals", "tBRK", 2)
    return Deployment(
        orderbook=orderbook,
        bytes32_emitter=bytes32_emitter,
        pyth=pyth,
        pyth_proxy=pyth_proxy,
        usdc=usdc,
        tokens=tokens,
        orderbook_v6=deploy("OrderBookV6StandIn", pyth),
    )
