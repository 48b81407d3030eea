"""The one error the config reader and rewriter raise."""

from __future__ import annotations

from pathlib import Path

from sentinel_lab.errors import SentinelLabError

__all__ = ["REDIS_VERSION", "SentinelConfigError"]

REDIS_VERSION = "7.0.15"
"""The Redis release whose config rules this package follows."""


class SentinelConfigError(SentinelLabError):
    """A config file that cannot be read, parsed or rewritten.

    ``reason`` is Redis's own text where Redis has one (``"Unrecognized sentinel
    configuration statement."``); ``hint`` adds what Redis leaves unsaid. ``line_no``
    and ``line`` are None for errors about the file as a whole.
    """

    def __init__(
        self,
        reason: str,
        *,
        path: Path | str | None = None,
        line_no: int | None = None,
        line: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.reason = reason
        self.path = None if path is None else Path(path)
        self.line_no = line_no
        self.line = line
        self.hint = hint
        super().__init__(self._one_line())

    def _one_line(self) -> str:
        where = f"config file {self.path}" if self.path is not None else "config text"
        if self.line_no is not None:
            where += f", line {self.line_no}"
        text = f"{where}: "
        if self.line is not None:
            text += f">>> '{self.line}' "
        text += self.reason
        if self.hint:
            text += f" ({self.hint})"
        return text

    def redis_report(self) -> str:
        """The block Redis prints to stderr for the same error, with the file named."""
        head = f"*** FATAL CONFIG FILE ERROR (Redis {REDIS_VERSION} rules, sentinel_lab) ***"
        lines = [head]
        if self.line_no is not None:
            name = f" {self.path}" if self.path is not None else ""
            lines.append(f"Reading the configuration file{name}, at line {self.line_no}")
            lines.append(f">>> '{self.line}'")
        elif self.path is not None:
            lines.append(f"Reading the configuration file {self.path}")
        lines.append(self.reason if not self.hint else f"{self.reason} ({self.hint})")
        return "\n".join(lines)
