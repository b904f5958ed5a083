"""Several orderbooks: ``[[chain.orderbooks]]`` beside (or instead of) the single ``chain.orderbook``; the
single form keeps working unchanged; each problem is one line naming its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbtui.config import ConfigError, load_settings
from arbtui.engine.factory import intake_config
from tests.unit.config.support import MINIMAL, ORDERBOOK, OWNER, USDC, write

V6 = "0xe522cB4a5fCb2eb31a52Ff41a4653d85A4fd7C9D"
V5 = "0x52CEB8eBEf648744fFDDE89F7Bc9C3aC35944775"
HEAD = f'[chain]\nhttp_url = "http://127.0.0.1:8545"\nowner = "{OWNER}"\nusdc = "{USDC}"\n'


def books(*entries: tuple[str, int]) -> str:
    return "".join(
        f'[[chain.orderbooks]]\naddress = "{address}"\ndeployment_block = {block}\n' for address, block in entries
    )


def test_the_single_orderbook_form_is_unchanged(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, MINIMAL + "deployment_block = 34844164\n"), {})
    assert settings.chain.orderbook == ORDERBOOK.lower()
    assert settings.chain.orderbooks == ()
    assert [(b.address, b.deployment_block) for b in settings.chain.books] == [(ORDERBOOK.lower(), 34844164)]
    config = intake_config(settings)
    assert config.decode.orderbooks == (ORDERBOOK.lower(),)
    assert config.deployment_block == 34844164


def test_several_orderbooks_each_with_its_deployment_block(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, HEAD + books((V5, 40_000_000), (V6, 49_746_968))), {})
    assert settings.chain.orderbook is None
    config = intake_config(settings)
    assert config.decode.orderbooks == (V5.lower(), V6.lower())
    assert config.deployment_block == 40_000_000  # a fresh ledger starts at the earliest book
    assert dict(config.book_deployment_blocks) == {V5.lower(): 40_000_000, V6.lower(): 49_746_968}


def test_the_single_form_and_the_list_together(tmp_path: Path) -> None:
    text = MINIMAL + "deployment_block = 34844164\n" + books((V6, 49_746_968))
    config = intake_config(load_settings(write(tmp_path, text), {}))
    assert config.decode.orderbooks == (ORDERBOOK.lower(), V6.lower())
    assert dict(config.book_deployment_blocks) == {ORDERBOOK.lower(): 34844164, V6.lower(): 49_746_968}
    assert config.deployment_block == 34844164


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            HEAD,
            "chain.orderbook: missing (required; or list the books as [[chain.orderbooks]] with address and"
            " deployment_block)",
        ),
        (
            HEAD + books((V6, 1), (V6.lower(), 2)),
            f"chain.orderbooks: {V6.lower()} is configured twice (each orderbook once)",
        ),
        (MINIMAL + books((ORDERBOOK, 1)), f"chain.orderbooks: {ORDERBOOK} is configured twice (each orderbook once)"),
        (HEAD + books(("0x12", 1)), "chain.orderbooks.0.address: not an address: '0x12'"),
        (HEAD + books((V6, -5)), "chain.orderbooks.0.deployment_block: must be at least 0, got -5"),
        (
            HEAD + f'[[chain.orderbooks]]\naddres = "{V6}"\n',
            "chain.orderbooks.0.addres: unknown key",
        ),
    ],
    ids=["none", "twice", "twice across forms", "bad address", "negative block", "typo"],
)
def test_orderbook_problems_are_one_line_each(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), {})
    assert expected in caught.value.problems
    assert all("\n" not in problem for problem in caught.value.problems)
