"""Histories written as Jepsen/Knossos EDN, and Jepsen's ``jepsen.util`` op logs.

EDN histories come either as a stream of maps (usually one per line, as Jepsen writes
``history.edn``) or as one vector of maps::

    {:process 0, :type :invoke, :f :write, :value 3}
    {:process 0, :type :ok, :f :write, :value 3, :time 1234, :index 1}
    [{:process 1 :type :invoke :f :cas :value [1 2]} ...]

Keywords and symbols become strings without the colon, ``nil``/``true``/``false`` the
Python constants, vectors and lists tuples, sets frozensets; tags (``#inst "..."``) are
dropped and their value kept, except Jepsen's ``#jepsen.independent.Tuple{:key k :value v}``
which sets the event's key. ``:index`` and other fields are ignored. Comments (``;``) and
discards (``#_``) are skipped. Events of the ``:nemesis`` process are skipped later, when
operations are paired.

A Jepsen log line looks like ``INFO  jepsen.util - 3<TAB>:invoke<TAB>:cas<TAB>[1 2]`` (tabs or spaces): lines
without that shape (other loggers) are skipped. Info completions in these logs carry
``:timed-out`` as their value; like every ``info`` value it is ignored.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from labkit.history.errors import HistoryFormatError
from labkit.history.format import event_from_mapping
from labkit.history.ops import History, HistoryEvent

__all__ = ["EdnSyntaxError", "loads_edn", "parse_edn_history", "parse_jepsen_log"]

_TOKEN = re.compile(r'[^\s,()\[\]{}";]+')
_INT = re.compile(r"[+-]?\d+N?")
_FLOAT = re.compile(r"[+-]?\d+(\.\d*)?([eE][+-]?\d+)?M?")
_RATIO = re.compile(r"[+-]?\d+/\d+")
_CHAR_NAMES = {
    "newline": "\n",
    "space": " ",
    "tab": "\t",
    "return": "\r",
    "formfeed": "\f",
    "backspace": "\b",
}
_STRING_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    '"': '"',
    "\\": "\\",
    "b": "\b",
    "f": "\f",
    "/": "/",
}
_CLOSERS = {"{": "}", "[": "]", "(": ")"}
_NAMES = {"{": "map", "[": "vector", "(": "list", "#{": "set"}
_JEPSEN_LOG = re.compile(r"^\S+\s+jepsen\.util\s+-\s+(\S+)\s+(\S+)\s+(\S+)(?:\s+(.*))?$")


class EdnSyntaxError(ValueError):
    """Text that is not EDN; ``pos`` is the offset where the reader gave up."""

    def __init__(self, reason: str, pos: int, *, incomplete: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.pos = pos
        self.incomplete = incomplete


@dataclass(frozen=True, slots=True)
class _KeyedValue:
    """Jepsen's ``independent`` tuple: an operation's value on one key."""

    key: object
    value: object


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_space(self) -> None:
        text = self.text
        end = len(text)
        while self.pos < end:
            char = text[self.pos]
            if char.isspace() or char == ",":
                self.pos += 1
            elif char == ";":
                newline = text.find("\n", self.pos)
                self.pos = end if newline < 0 else newline + 1
            elif text.startswith("#_", self.pos):
                self.pos += 2
                self.read()
            else:
                return

    def at_end(self) -> bool:
        self.skip_space()
        return self.pos >= len(self.text)

    def read(self) -> object:
        self.skip_space()
        text = self.text
        if self.pos >= len(text):
            raise EdnSyntaxError("unexpected end of input", self.pos, incomplete=True)
        char = text[self.pos]
        if char in _CLOSERS:
            start = self.pos
            self.pos += 1
            items = self._read_until(_CLOSERS[char], _NAMES[char], start)
            if char == "{":
                return self._to_map(items, start)
            return tuple(items)
        if char in ")]}":
            raise EdnSyntaxError(f"unexpected {char!r}", self.pos)
        if char == '"':
            return self._read_string()
        if char == "\\":
            return self._read_char()
        if char == "#":
            return self._read_dispatch()
        return self._read_atom()

    def _read_until(self, closer: str, name: str, start: int) -> list[object]:
        items: list[object] = []
        while True:
            self.skip_space()
            if self.pos >= len(self.text):
                raise EdnSyntaxError(f"unterminated {name}", start, incomplete=True)
            char = self.text[self.pos]
            if char == closer:
                self.pos += 1
                return items
            if char in ")]}":
                raise EdnSyntaxError(f"{char!r} closes a {name} that expects {closer!r}", self.pos)
            items.append(self.read())

    def _to_map(self, items: list[object], start: int) -> dict[object, object]:
        if len(items) % 2:
            raise EdnSyntaxError("a map needs an even number of forms", start)
        result: dict[object, object] = {}
        for k, v in zip(items[::2], items[1::2], strict=True):
            try:
                result[k] = v
            except TypeError:
                raise EdnSyntaxError(f"a map key cannot be {type(k).__name__}", start) from None
        return result

    def _read_string(self) -> str:
        text = self.text
        start = self.pos
        self.pos += 1
        parts: list[str] = []
        while True:
            end = len(text)
            quote = text.find('"', self.pos)
            slash = text.find("\\", self.pos)
            if quote < 0:
                raise EdnSyntaxError("unterminated string", start, incomplete=True)
            if slash < 0 or quote < slash:
                parts.append(text[self.pos : quote])
                self.pos = quote + 1
                return "".join(parts)
            parts.append(text[self.pos : slash])
            if slash + 1 >= end:
                raise EdnSyntaxError("unterminated string", start, incomplete=True)
            escape = text[slash + 1]
            if escape == "u":
                digits = text[slash + 2 : slash + 6]
                if not re.fullmatch(r"[0-9a-fA-F]{4}", digits):
                    raise EdnSyntaxError(f"bad unicode escape \\u{digits}", slash)
                parts.append(chr(int(digits, 16)))
                self.pos = slash + 6
            elif escape in _STRING_ESCAPES:
                parts.append(_STRING_ESCAPES[escape])
                self.pos = slash + 2
            else:
                raise EdnSyntaxError(f"bad string escape \\{escape}", slash)

    def _read_char(self) -> str:
        start = self.pos
        match = re.compile(r"\\(u[0-9a-fA-F]{4}|[a-z]+|.)", re.S).match(self.text, self.pos)
        if match is None:
            raise EdnSyntaxError("a lone backslash", start, incomplete=True)
        self.pos = match.end()
        name = match.group(1)
        if len(name) == 1:
            return name
        if name in _CHAR_NAMES:
            return _CHAR_NAMES[name]
        if name.startswith("u") and len(name) == 5:
            return chr(int(name[1:], 16))
        raise EdnSyntaxError(f"unknown character \\{name}", start)

    def _read_dispatch(self) -> object:
        start = self.pos
        text = self.text
        if text.startswith("#{", start):
            self.pos += 2
            items = self._read_until("}", "set", start)
            try:
                return frozenset(items)
            except TypeError:
                raise EdnSyntaxError("a set element cannot be a map", start) from None
        match = _TOKEN.match(text, start + 1)
        if match is None or not match.group(0)[0].isalpha():
            raise EdnSyntaxError("'#' must start a set, a discard or a tag", start)
        tag = match.group(0)
        self.pos = match.end()
        form = self.read()
        if tag.endswith("independent.Tuple") and isinstance(form, dict):
            return _KeyedValue(form.get("key"), form.get("value"))
        return form

    def _read_atom(self) -> object:
        match = _TOKEN.match(self.text, self.pos)
        if match is None:  # pragma: no cover - every other character starts a token
            raise EdnSyntaxError(f"unexpected {self.text[self.pos]!r}", self.pos)
        token = match.group(0)
        start = self.pos
        self.pos = match.end()
        if token[0] == ":":
            name = token.lstrip(":")
            if not name:
                raise EdnSyntaxError("an empty keyword", start)
            return name
        if token[0].isdigit() or (len(token) > 1 and token[0] in "+-" and token[1].isdigit()):
            return _number(token, start)
        if token == "nil":
            return None
        if token == "true":
            return True
        if token == "false":
            return False
        return token


def _number(token: str, start: int) -> int | float:
    if _INT.fullmatch(token):
        return int(token.rstrip("N"))
    if _FLOAT.fullmatch(token):
        return float(token.rstrip("M"))
    if _RATIO.fullmatch(token):
        numerator, denominator = token.split("/")
        if int(denominator) == 0:
            raise EdnSyntaxError(f"a ratio with a zero denominator: {token}", start)
        return int(numerator) / int(denominator)
    raise EdnSyntaxError(f"not a number: {token}", start)


def loads_edn(text: str) -> object:
    """The one EDN form in ``text``. :class:`EdnSyntaxError` if there is not exactly one."""
    reader = _Reader(text)
    try:
        value = reader.read()
    except RecursionError:
        raise EdnSyntaxError("nested too deeply", reader.pos) from None
    if not reader.at_end():
        raise EdnSyntaxError("more than one form", reader.pos)
    return value


class _Lines:
    """Offsets to 1-based line numbers."""

    def __init__(self, text: str) -> None:
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def of(self, pos: int) -> int:
        return bisect.bisect_right(self.starts, pos)


def _event(form: object, line_no: int) -> HistoryEvent:
    if not isinstance(form, dict):
        raise HistoryFormatError(f"expected an EDN map, got {_kind(form)}", line_no=line_no)
    record = {str(k): v for k, v in form.items()}
    value = record.get("value")
    if isinstance(value, _KeyedValue):
        record["value"] = value.value
        if record.get("key") is None:
            record["key"] = value.key
    return event_from_mapping(record, line_no)


def _kind(form: object) -> str:
    if isinstance(form, tuple):
        return "a vector or list"
    if form is None:
        return "nil"
    return f"{type(form).__name__} {form!r}"[:80]


def parse_edn_history(text: str) -> History:
    """A history from EDN: a stream of maps, or a single vector of maps."""
    lines = _Lines(text)
    reader = _Reader(text)
    events: list[HistoryEvent] = []
    form_start = 0
    try:
        reader.skip_space()
        if reader.pos < len(text) and text[reader.pos] == "[":
            form_start = reader.pos
            reader.pos += 1
            while True:
                reader.skip_space()
                if reader.pos >= len(text):
                    raise EdnSyntaxError("unterminated vector", form_start, incomplete=True)
                if text[reader.pos] == "]":
                    reader.pos += 1
                    break
                item_start = reader.pos
                events.append(_event(reader.read(), lines.of(item_start)))
            if not reader.at_end():
                raise EdnSyntaxError("text after the history vector", reader.pos)
        else:
            while not reader.at_end():
                form_start = reader.pos
                events.append(_event(reader.read(), lines.of(form_start)))
    except EdnSyntaxError as exc:
        line_no = lines.of(exc.pos)
        reason = f"bad EDN: {exc.reason}"
        if exc.incomplete:
            reason += " (reached the end of the input)"
        elif lines.of(form_start) != line_no:
            reason += f" (in the form that starts on line {lines.of(form_start)})"
        raise HistoryFormatError(reason, line_no=line_no) from None
    except RecursionError:
        raise HistoryFormatError(
            "bad EDN: nested too deeply", line_no=lines.of(form_start)
        ) from None
    return History(events=tuple(events))


def parse_jepsen_log(text: str) -> History:
    """A history from a Jepsen log's ``jepsen.util`` op lines; other lines are skipped."""
    events: list[HistoryEvent] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        match = _JEPSEN_LOG.match(line.rstrip("\r"))
        if match is None:
            continue
        process_text, type_text, f_text, value_text = match.groups()
        try:
            process = loads_edn(process_text)
            kind = loads_edn(type_text)
            f = loads_edn(f_text)
            value = loads_edn(value_text) if value_text and value_text.strip() else None
        except EdnSyntaxError as exc:
            raise HistoryFormatError(
                f"bad EDN in Jepsen log line: {exc.reason}", line_no=line_no
            ) from None
        events.append(_event({"process": process, "type": kind, "f": f, "value": value}, line_no))
    if not events and text.strip():
        raise HistoryFormatError(
            "no Jepsen op lines (`... jepsen.util - P :type :f value`, tab- or space-separated)"
        )
    return History(events=tuple(events))
