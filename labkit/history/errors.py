"""Errors of ``labkit.history``: one root, one subclass per kind of trouble."""

from __future__ import annotations

from labkit.errors import LabError

__all__ = [
    "HistoryError",
    "HistoryFormatError",
    "ModelError",
    "RecorderError",
    "UnknownModelError",
]


class HistoryError(LabError):
    """Root of every error that ``labkit.history`` raises on purpose."""


class HistoryFormatError(HistoryError, ValueError):
    """A history that cannot be read: bad syntax, a bad field, or events that do not pair up.

    ``line_no`` is the 1-based line of the input where the trouble is, when known.
    """

    def __init__(self, reason: str, *, line_no: int | None = None) -> None:
        where = f"line {line_no}: " if line_no is not None else ""
        super().__init__(f"{where}{reason}")
        self.reason = reason
        self.line_no = line_no


class UnknownModelError(HistoryError, ValueError):
    """A model name that no model is registered under."""


class ModelError(HistoryError, ValueError):
    """An operation that the chosen model cannot interpret (an unknown function, a bad value)."""

    def __init__(self, reason: str, *, line_no: int | None = None) -> None:
        where = f"line {line_no}: " if line_no is not None else ""
        super().__init__(f"{where}{reason}")
        self.reason = reason
        self.line_no = line_no


class RecorderError(HistoryError):
    """A misuse of :class:`~labkit.history.recorder.HistoryRecorder` (a handle completed twice,
    a process that invokes while it has an operation pending, or after an ``info``)."""
