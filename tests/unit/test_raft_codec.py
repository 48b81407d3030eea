"""The peer-message codec: round trips, and malformed input raises only PeerCodecError."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redis_raft.codec import MAX_ENTRIES, PeerCodecError, decode_message, encode_message
from redis_raft.core.messages import (
    AppendEntries,
    AppendEntriesResponse,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    Message,
    RequestVote,
    RequestVoteResponse,
    TimeoutNow,
)
from redis_raft.core.records import Config, Entry, SnapshotMeta

u64 = st.integers(min_value=0, max_value=2**64 - 1)
small = st.integers(min_value=0, max_value=10**9)
ids = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=8)
configs = st.builds(Config.of, st.lists(ids, max_size=4), st.lists(ids, max_size=3))
payloads = st.one_of(st.none(), st.binary(max_size=64), configs)


@st.composite
def appends(draw: st.DrawFn) -> AppendEntries:
    prev = draw(small)
    data = draw(st.lists(st.tuples(small, payloads), max_size=6))
    entries = tuple(Entry(prev + i + 1, term, d) for i, (term, d) in enumerate(data))
    return AppendEntries(draw(u64), prev, draw(u64), entries, draw(u64))


messages: st.SearchStrategy[Message] = st.one_of(
    st.builds(RequestVote, u64, u64, u64, st.booleans(), st.booleans()),
    st.builds(RequestVoteResponse, u64, st.booleans(), st.booleans()),
    appends(),
    st.builds(AppendEntriesResponse, u64, st.booleans(), u64, u64, u64, st.one_of(st.none(), u64)),
    st.builds(Heartbeat, u64, u64, u64),
    st.builds(HeartbeatResponse, u64, u64, u64),
    st.builds(
        InstallSnapshot, u64, st.builds(SnapshotMeta, u64, u64, configs), st.binary(max_size=256)
    ),
    st.builds(InstallSnapshotResponse, u64, u64),
    st.builds(TimeoutNow, u64),
)


@given(messages)
def test_round_trip(message: Message) -> None:
    assert decode_message(encode_message(message)) == message


@given(messages, st.data())
def test_every_truncation_is_a_typed_error(message: Message, data: st.DataObject) -> None:
    raw = encode_message(message)
    cut = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    with pytest.raises(PeerCodecError):
        decode_message(raw[:cut])


@given(messages, st.binary(min_size=1, max_size=8))
def test_trailing_bytes_are_refused(message: Message, tail: bytes) -> None:
    with pytest.raises(PeerCodecError, match="trailing"):
        decode_message(encode_message(message) + tail)


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_random_bytes_decode_or_raise_the_typed_error(data: bytes) -> None:
    with contextlib.suppress(PeerCodecError):
        decode_message(data)


@settings(max_examples=300)
@given(messages, st.data())
def test_flipped_bytes_decode_or_raise_the_typed_error(
    message: Message, data: st.DataObject
) -> None:
    raw = bytearray(encode_message(message))
    pos = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    raw[pos] ^= data.draw(st.integers(min_value=1, max_value=255))
    with contextlib.suppress(PeerCodecError):
        decode_message(bytes(raw))


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"", "cut short"),
        (b"\x02\x01", "version 2"),
        (b"\x01\x00", "unknown message type 0"),
        (b"\x01\x02" + b"\x00" * 8 + b"\x02\x00", "boolean byte 2"),
        (b"\x01\x03" + b"\x00" * 32 + (MAX_ENTRIES + 1).to_bytes(4, "little"), "too many entries"),
        (b"\x01\x03" + b"\x00" * 32 + b"\xff\xff\xff\xff", "too many entries"),
    ],
)
def test_malformed_examples(raw: bytes, needle: str) -> None:
    with pytest.raises(PeerCodecError, match=needle):
        decode_message(raw)


def test_entries_must_follow_prev_index() -> None:
    raw = encode_message(AppendEntries(1, 5, 1, (Entry(6, 1, b"x"),), 0))
    bad = raw.replace((6).to_bytes(8, "little"), (8).to_bytes(8, "little"), 1)
    with pytest.raises(PeerCodecError, match="does not follow"):
        decode_message(bad)


def test_unencodable_values() -> None:
    with pytest.raises(PeerCodecError, match="64 bits"):
        encode_message(Heartbeat(-1, 0, 0))
    with pytest.raises(PeerCodecError, match="cannot encode"):
        encode_message("hello")  # type: ignore[arg-type]
