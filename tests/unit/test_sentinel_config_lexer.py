"""Redis's config line splitting (sdssplitargs) and quoting (sdscatrepr), ported."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sentinel_lab.config.lexer import ArgSplitError, format_arg, repr_arg, split_args, trim_line


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("", []),
        ("   \t ", []),
        ("\v\f", []),
        ("port 26379", ["port", "26379"]),
        ("  a   b\tc  ", ["a", "b", "c"]),
        ('"a b" c', ["a b", "c"]),
        ('""', [""]),
        ("''", [""]),
        ('"\\n\\r\\t\\b\\a\\\\\\"\\q"', ['\n\r\t\b\a\\"q']),
        ('"\\x41\\x4a\\x4"', ["AJx4"]),  # a broken \x escape drops its backslash
        ('"\\xc3\\xa9"', ["é"]),
        ("'it\\'s' x", ["it's", "x"]),
        ("'a\\nb'", ["a\\nb"]),
        ('ab"cd"', ["abcd"]),
        ("ab'c d'", ["abc d"]),
        ("a\\b", ["a\\b"]),
        ("a\vb", ["a\vb"]),  # \v ends no bare word, as in sdssplitargs
        ("é ü", ["é", "ü"]),
    ],
)
def test_split_args_matches_sdssplitargs(line: str, expected: list[str]) -> None:
    assert split_args(line) == expected


@pytest.mark.parametrize(
    "line",
    ['"abc', "'abc", '"abc"x', "'abc'x", '"\\"', 'a "b', '"\\xff"'],
)
def test_split_args_refuses_unbalanced_quotes_and_bad_bytes(line: str) -> None:
    with pytest.raises(ArgSplitError):
        split_args(line)


def test_repr_arg_escapes_like_sdscatrepr() -> None:
    assert repr_arg("1.2.3.4") == '"1.2.3.4"'
    assert repr_arg('a"b\\c\n\r\t\a\b') == '"a\\"b\\\\c\\n\\r\\t\\a\\b"'
    assert repr_arg("\x01é") == '"\\x01\\xc3\\xa9"'


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("mymaster", "mymaster"),
        ("p@ss\\w0rd", "p@ss\\w0rd"),
        ("élan", "élan"),
        ("", '""'),
        ("a b", '"a b"'),
        ("it's", '"it\'s"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("\x7f", '"\\x7f"'),
    ],
)
def test_format_arg_quotes_only_when_needed(value: str, written: str) -> None:
    assert format_arg(value) == written


def test_trim_line_strips_blanks_and_crlf() -> None:
    assert trim_line(" \t port 1 \r\n") == "port 1"


_NO_NUL = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)


@given(_NO_NUL)
def test_format_arg_reads_back_as_one_argument(value: str) -> None:
    assert split_args(format_arg(value)) == [value]


@given(st.lists(_NO_NUL, max_size=6))
def test_formatted_lines_split_back(values: list[str]) -> None:
    assert split_args(" ".join(format_arg(v) for v in values)) == values


@given(st.text(max_size=60))
def test_split_args_only_raises_its_own_error(line: str) -> None:
    with contextlib.suppress(ArgSplitError):
        split_args(line)
