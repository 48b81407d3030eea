"""``count_commands``: the apply path's cheap check of an entry's RESP structure.

It must never accept what ``decode_commands`` refuses, and must count what both accept
the same way; otherwise a batch's replies would be matched to the wrong entries.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redis_raft.statemachine import (
    EntryFormatError,
    count_commands,
    decode_commands,
    encode_commands,
)

commands_st = st.lists(
    st.lists(st.binary(max_size=20), min_size=1, max_size=4), min_size=1, max_size=4
)


def _agree(data: bytes) -> None:
    try:
        counted = count_commands(data)
    except EntryFormatError:
        return  # stricter than the parser is fine (entries come from encode_commands)
    _, commands = decode_commands(data)  # accepted by the cheap check: must decode
    assert counted == len(commands)


@given(commands_st)
def test_counts_what_encode_commands_builds(commands: list[list[bytes]]) -> None:
    assert count_commands(encode_commands(commands, transaction=True)) == len(commands)
    assert count_commands(encode_commands(commands[:1], transaction=False)) == 1


@given(commands_st, st.integers(min_value=0), st.integers(min_value=0, max_value=255))
def test_a_damaged_entry_is_refused_or_counted_like_the_parser(
    commands: list[list[bytes]], where: int, byte: int
) -> None:
    data = bytearray(encode_commands(commands, transaction=True))
    data[where % len(data)] = byte
    _agree(bytes(data))
    _agree(bytes(data[: where % len(data)]))


@given(st.binary(max_size=60))
def test_random_bytes(data: bytes) -> None:
    _agree(data)
    _agree(b"C" + data)
    _agree(b"T" + data)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"X*1\r\n$1\r\na\r\n",
        b"C",
        b"T",
        b"C*0\r\n",
        b"C*1\r\n$ 1\r\na\r\n",
        b"C*1\r\n$-1\r\n",
        b"C*1\r\n$1\r\nab\r\n",
        b"C*1\r\n$1\r\na\r\n*1\r\n$1\r\nb\r\n",  # two commands in a single entry
        b"CGET a\r\n",  # inline form: never written by encode_commands
    ],
)
def test_refused(data: bytes) -> None:
    with pytest.raises(EntryFormatError):
        count_commands(data)
