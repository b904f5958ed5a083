"""ABI decoding of event data, fast: the layouts the orderbook's events use, read word by word.

``eth_abi.decode`` walks a generic decoder tree over a byte stream — about 0.1 ms for one
``TakeOrderV2`` (V4) or ``TakeOrderV3`` (V5/V6: Floats and vault ids as ``bytes32``, IOs of
``(address, bytes32)``), a tenth of the fill→hedge latency budget. :func:`decode` compiles each type list once
(cached) into a plan over the few ABI types these events use — ``address``, ``uintN``, ``bytesN``,
``bytes``, ``T[]`` and tuples — and reads the data with slices and ``int.from_bytes``.

It answers exactly what ``eth_abi.decode(types, data)`` (strict, the default) answers:

* it accepts only what eth_abi accepts — every padding checked, every offset inside the data and past
  the head that holds it, every length within the data — and gives the same values (addresses in lower
  case, tuples for tuples and arrays, ``bytes`` for byte strings);
* anything else — a type outside that set, data it would refuse, anything unusual at all — is handed to
  ``eth_abi.decode`` itself, so a malformed log fails with eth_abi's own error and message.

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_abi.abi import decode as abi_decode

WORD = 32
_UINT = re.compile(r"^uint(\d{1,3})$")
_FIXED_BYTES = re.compile(r"^bytes(\d{1,2})$")


class _Unusual(Exception):
    """The fast path does not accept this data (eth_abi decides)."""


@dataclass(frozen=True, slots=True)
class _Type:
    kind: str
    """``address``, ``uint``, ``fixed_bytes``, ``bytes``, ``array`` or ``tuple``."""
    size: int = 0
    """``uint``: bits; ``fixed_bytes``: bytes."""
    items: tuple[_Type, ...] = ()
    """``array``: the item type; ``tuple``: the components."""
    dynamic: bool = False
    words: int = 1
    """Head words a static value takes (a static tuple is inline)."""


def decode(types: Sequence[str], data: bytes) -> tuple[Any, ...]:
    """``eth_abi.decode(types, data)``, fast for the types this module knows (see the module docs)."""
    plan = _plan(tuple(types))
    if plan is not None:
        try:
            return decode_fast(plan, data)
        except _Unusual:
            pass
    return tuple(abi_decode(list(types), data))


def compile_types(types: Sequence[str]) -> _Type | None:
    """The plan for ``types`` as one top-level tuple; None when a type is outside the fast set."""
    return _plan(tuple(types))


def decode_fast(plan: _Type, data: bytes) -> tuple[Any, ...]:
    """Decode with ``plan``; raises :class:`_Unusual` for anything not plainly valid."""
    value: tuple[Any, ...] = _tuple(plan, data, 0)
    return value


# --- compiling type strings ----------------------------------------------------------------------


@cache
def _plan(types: tuple[str, ...]) -> _Type | None:
    try:
        return _tuple_type([_parse(t) for t in types])
    except ValueError:
        return None


def _tuple_type(items: list[_Type]) -> _Type:
    dynamic = any(item.dynamic for item in items)
    return _Type("tuple", items=tuple(items), dynamic=dynamic, words=sum(i.words for i in items) if not dynamic else 1)


def _parse(text: str) -> _Type:
    if text.endswith("[]"):
        return _Type("array", items=(_parse(text[:-2]),), dynamic=True)
    if text.endswith("]"):
        raise ValueError(f"fixed-size arrays are left to eth_abi: {text}")
    if text.startswith("("):
        if not text.endswith(")"):
            raise ValueError(f"unbalanced tuple type {text}")
        return _tuple_type([_parse(part) for part in _split(text[1:-1])])
    if text == "address":
        return _Type("address")
    if text == "bytes":
        return _Type("bytes", dynamic=True)
    if (match := _UINT.match(text)) is not None:
        bits = int(match.group(1))
        if bits % 8 or not 8 <= bits <= 256:
            raise ValueError(f"bad uint size {text}")
        return _Type("uint", size=bits)
    if (match := _FIXED_BYTES.match(text)) is not None:
        size = int(match.group(1))
        if not 1 <= size <= WORD:
            raise ValueError(f"bad bytes size {text}")
        return _Type("fixed_bytes", size=size)
    raise ValueError(f"type {text} is left to eth_abi")


def _split(inner: str) -> list[str]:
    """Top-level comma-separated components of a tuple type's inside."""
    if not inner:
        return []
    parts: list[str] = []
    depth = start = 0
    for index, char in enumerate(inner):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(inner[start:index])
            start = index + 1
    parts.append(inner[start:])
    return parts


# --- reading -------------------------------------------------------------------------------------


def _word(data: bytes, at: int) -> int:
    if at + WORD > len(data):
        raise _Unusual
    return int.from_bytes(data[at : at + WORD], "big")


def _value(kind: _Type, data: bytes, at: int) -> Any:
    """A static value whose head starts at ``at``."""
    if kind.kind == "uint":
        value = _word(data, at)
        if value >> kind.size:
            raise _Unusual  # non-zero padding
        return value
    if kind.kind == "address":
        value = _word(data, at)
        if value >> 160:
            raise _Unusual
        return "0x" + data[at + 12 : at + WORD].hex()
    if kind.kind == "fixed_bytes":
        if at + WORD > len(data) or any(data[at + kind.size : at + WORD]):
            raise _Unusual
        return data[at : at + kind.size]
    return _tuple(kind, data, at)  # a static tuple, inline


def _tuple(kind: _Type, data: bytes, start: int) -> tuple[Any, ...]:
    """A tuple whose encoding starts at ``start`` (offsets inside it are relative to ``start``)."""
    end_of_head = start + WORD * sum(item.words for item in kind.items)
    values: list[Any] = []
    at = start
    for item in kind.items:
        if item.dynamic:
            values.append(_dynamic(item, data, _pointer(data, at, start, end_of_head)))
            at += WORD
        else:
            values.append(_value(item, data, at))
            at += WORD * item.words
    return tuple(values)


def _pointer(data: bytes, at: int, frame: int, end_of_head: int) -> int:
    """The absolute position an offset word at ``at`` points to, if inside the data and past the head."""
    target = frame + _word(data, at)
    if target < end_of_head or target >= len(data):
        raise _Unusual
    return target


def _dynamic(kind: _Type, data: bytes, at: int) -> Any:
    """A dynamic value whose encoding starts at ``at``."""
    if kind.kind == "bytes":
        length = _word(data, at)
        begin = at + WORD
        padded = begin + -(-length // WORD) * WORD
        if padded > len(data) or any(data[begin + length : padded]):
            raise _Unusual
        return data[begin : begin + length]
    if kind.kind == "tuple":
        return _tuple(kind, data, at)
    item = kind.items[0]
    count = _word(data, at)
    elements = at + WORD
    if elements + count * WORD * item.words > len(data):
        raise _Unusual
    if not item.dynamic:
        return tuple(_value(item, data, elements + index * WORD * item.words) for index in range(count))
    end_of_offsets = elements + count * WORD
    return tuple(
        _dynamic(item, data, _pointer(data, elements + index * WORD, elements, end_of_offsets))
        for index in range(count)
    )
