"""arbtui's Float decoder against Rain's own library (npm ``@rainlanguage/float``, wasm, run by node):
thousands of random Floats — canonical and not, negative exponents, 67-digit coefficients, extreme
int32 exponents, raw random words — must have exactly the value Rain's ``format()`` gives, and the
base units Rain's ``toFixedDecimalLossy(18)`` gives wherever the value is a whole number of them."""

from __future__ import annotations

import random
from decimal import Decimal

from arbtui.domain.rain_float import FloatAmountError, RainFloat
from tests.chain_support.rain_float import rain_format, rain_parse

CASES = 4000


def _random_floats(rng: random.Random) -> list[RainFloat]:
    floats: list[RainFloat] = []
    for index in range(CASES):
        kind = index % 6
        if kind == 0:  # raw random word: any bit pattern is a Float
            floats.append(RainFloat.from_bytes(rng.randbytes(32)))
            continue
        if kind == 1:  # full int224 coefficient (up to 67 digits), small exponent
            coefficient = rng.randrange(-(2**223), 2**223)
            exponent = rng.randint(-80, 10)
        elif kind == 2:  # token-like amounts: int128 range, exponent near -18
            coefficient = rng.randrange(0, 2**127)
            exponent = rng.randint(-40, 0)
        elif kind == 3:  # non-canonical: the same number as (c, e) spread over trailing zeros
            base = rng.randrange(1, 10**12)
            shift = rng.randint(0, 50)
            coefficient, exponent = base * 10**shift, rng.randint(-30, 5) - shift
        elif kind == 4:  # extreme exponents
            coefficient = rng.randrange(-(10**20), 10**20)
            exponent = rng.choice([-(2**31), 2**31 - 1, rng.randint(-(2**31), 2**31 - 1)])
        else:  # small values, negative and zero included
            coefficient = rng.randint(-1000, 1000)
            exponent = rng.randint(-20, 20)
        floats.append(RainFloat(coefficient, exponent))
    return floats


def test_decoder_equals_rains_library_on_random_floats() -> None:
    rng = random.Random(20261204)
    floats = _random_floats(rng)
    hexes = ["0x" + f.to_bytes().hex() for f in floats]
    answers = rain_format(hexes, decimals=18)
    compared_fixed = 0
    for text, answer in zip(hexes, answers, strict=True):
        ours = RainFloat.from_hex(text)
        assert answer.format is not None, f"Rain cannot format {text}: {answer.error}"
        assert ours.value == Decimal(answer.format), f"{text}: ours {ours.value} vs Rain {answer.format}"
        if answer.fixed is not None and ours.coefficient >= 0:
            try:
                exact = ours.to_base_units(18)
            except FloatAmountError:
                continue  # finer than 18 decimals: Rain's lossy answer truncates, ours refuses
            assert exact == answer.fixed, f"{text}: base units {exact} vs Rain {answer.fixed}"
            compared_fixed += 1
    assert compared_fixed > CASES // 5  # the base-unit comparison really ran on a good share


def test_rains_encoder_bytes_decode_to_the_text_it_parsed() -> None:
    texts = ["2.5", "0.5", "468.75", "100.000001", "0.000000000000000001", "123456789012345678901234567890.5"]
    for text, encoded in zip(texts, rain_parse(texts), strict=True):
        assert RainFloat.from_bytes(encoded).value == Decimal(text)
