"""The pure parts of log-answer verification (issue 18): blooms, headers, endpoint names. The same checks
against real anvil headers and receipts are in ``tests/integration/chain/test_chain_intake_lagging_index.py``."""

from __future__ import annotations

from arbtui.chain.decode import INTAKE_TOPICS, bloom_bits
from arbtui.chain.rpc import endpoint_name
from arbtui.chain.verify import Header, LogSelector, linked

BOOK = "0x" + "ab" * 20
OTHER = "0x" + "cd" * 20


def _bloom(*items: str) -> str:
    value = 0
    for item in items:
        for bit in bloom_bits(item):
            value |= 1 << bit
    return "0x" + f"{value:0512x}"


def test_a_bloom_may_hold_ours_only_with_our_address_and_one_of_our_topics() -> None:
    ours = LogSelector([BOOK], INTAKE_TOPICS)
    assert ours.may_hold(_bloom(BOOK, INTAKE_TOPICS[0]))
    assert ours.may_hold(_bloom(BOOK, INTAKE_TOPICS[-1]))
    assert not ours.may_hold(_bloom(BOOK))  # our address, no fill topic
    assert not ours.may_hold(_bloom(OTHER, INTAKE_TOPICS[0]))  # a fill topic of another contract
    assert not ours.may_hold(_bloom())
    assert LogSelector([OTHER, BOOK], INTAKE_TOPICS).may_hold(_bloom(BOOK, INTAKE_TOPICS[1]))


def test_an_unreadable_bloom_may_hold_anything() -> None:
    ours = LogSelector([BOOK], INTAKE_TOPICS)
    for bloom in (None, "", "0x", "0x" + "f" * 10, "0x" + "zz" * 256, 12345):
        assert ours.may_hold(bloom)


def _header(number: int, parent: str, bloom: str) -> dict[str, object]:
    return {
        "number": hex(number),
        "hash": "0x" + f"{number:064x}",
        "parentHash": parent,
        "timestamp": hex(1_700_000_000 + number),
        "logsBloom": bloom,
        "transactions": ["0x" + "11" * 32],
    }


def test_headers_parse_and_link() -> None:
    ours = LogSelector([BOOK], INTAKE_TOPICS)
    a = Header.from_rpc(_header(7, "0x" + "00" * 32, _bloom()), ours)
    b = Header.from_rpc(_header(8, "0x" + f"{7:064x}", _bloom(BOOK, INTAKE_TOPICS[0])), ours)
    c = Header.from_rpc(_header(9, "0x" + "ee" * 32, _bloom()), ours)
    assert a is not None
    assert b is not None
    assert c is not None
    assert (a.ref.number, a.timestamp, a.may_hold_ours, b.may_hold_ours) == (7, 1_700_000_007, False, True)
    assert b.transactions == ("0x" + "11" * 32,)
    assert linked([a, b])
    assert not linked([a, b, c])  # 9's parent is not 8
    assert not linked([a, c])
    assert Header.from_rpc(None, ours) is None  # the node does not know the block
    assert Header.from_rpc({"number": "0x1"}, ours) is None


def test_an_endpoint_is_named_without_its_path_or_credentials() -> None:
    assert endpoint_name("https://base-mainnet.example.com/v2/SECRETKEY?x=1") == "https://base-mainnet.example.com"
    assert endpoint_name("https://user:pass@node.example:8545/key") == "https://node.example:8545"
    assert endpoint_name("http://[::1]:8545") == "http://[::1]:8545"
    assert endpoint_name("not a url") == "node"
