"""Reading ``sentinel.conf`` the way ``redis-sentinel`` 7.0.15 does.

Lines are split on ``\\n`` and trimmed; ``#`` starts a comment only as the first
character; each line is split with :func:`split_args`. Directive names are
case-insensitive. A directive Redis does not know, a wrong number of arguments or a bad
value raises :class:`SentinelConfigError` naming the file, line and reason. Valid Redis
directives sentinel_lab does not act on are returned as ignored.

Checks are Redis's, with these deliberate differences:

* numbers Redis reads with ``atoi``/``strtoull`` must be plain decimals here;
* ``announce-port`` must be a port number (Redis takes any integer);
* the file must be UTF-8 with no NUL byte;
* values of ignored directives are checked only when they are yes/no options;
* ``include`` is supported, but not for ``sentinel`` lines: a config rewrite writes
  those into the main file, so Redis would then find them twice and refuse to start;
* an include cycle is an error (Redis recurses until it crashes).
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from sentinel_lab.config.directives import (
    BOOL_DIRECTIVES,
    DEPRECATED_DIRECTIVES,
    MULTI_ARG_DIRECTIVES,
    SENTINEL_MODE_COMMANDS,
    STANDARD_DIRECTIVES,
    canonical_name,
)
from sentinel_lab.config.errors import SentinelConfigError
from sentinel_lab.config.lexer import ArgSplitError, split_args, trim_line
from sentinel_lab.config.model import IgnoredDirective, LoadedConfig, SentinelConfig, ServerSettings
from sentinel_lab.config.sentinel_options import SentinelLine, SentinelOptions
from sentinel_lab.config.values import BadValueError, parse_redis_ll, yes_no

__all__ = ["load_config", "parse_config_text", "read_config_text"]

_ENUMS = {
    "loglevel": ("debug", "verbose", "notice", "warning"),
    "syslog-facility": ("user", *(f"local{i}" for i in range(8))),
}
_BIND_MAX = 16  # CONFIG_BINDADDR_MAX


def read_config_text(path: Path | str) -> str:
    """The file's text, or :class:`SentinelConfigError` (missing, unreadable, not UTF-8)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        reason = f"Fatal error, can't open config file '{path}': {exc.strerror or exc}"
        raise SentinelConfigError(reason, path=path) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_no = data.count(b"\n", 0, exc.start) + 1
        raw = data.split(b"\n")[line_no - 1]
        line = trim_line(raw.decode("utf-8", errors="backslashreplace"))
        raise SentinelConfigError(
            "Invalid UTF-8 in configuration line", path=path, line_no=line_no, line=line
        ) from None


def load_config(path: Path | str, *, check_files: bool = True) -> LoadedConfig:
    """Parse the sentinel config file at ``path``.

    ``check_files`` makes the checks Redis makes on the file system while loading: ``dir``
    exists, and notification and reconfig scripts are executable.
    """
    path = Path(path)
    text = read_config_text(path)
    return parse_config_text(text, path=path, check_files=check_files)


def parse_config_text(
    text: str, *, path: Path | str = "<string>", check_files: bool = False
) -> LoadedConfig:
    """Parse config text; ``path`` names it in errors and anchors relative includes."""
    state = _State(check_files=check_files, cwd=Path.cwd())
    state.read(text, str(path), stack=(_real(path),))
    options = state.options
    masters = options.apply(state.server, state.cwd)
    config = SentinelConfig(
        server=options.server,
        masters=masters,
        myid=options.myid,
        current_epoch=options.current_epoch,
    )
    ignored = tuple(sorted(state.ignored + options.ignored, key=lambda i: (i.path, i.line_no)))
    return LoadedConfig(config, ignored, str(path), needs_rewrite=config.myid is None)


def _real(path: Path | str) -> str:
    return os.path.realpath(path) if str(path) != "<string>" else "<string>"


@dataclass(slots=True)
class _State:
    check_files: bool
    cwd: Path
    server: ServerSettings = field(default_factory=ServerSettings)
    ignored: list[IgnoredDirective] = field(default_factory=list)
    commands: set[str] = field(default_factory=lambda: set(SENTINEL_MODE_COMMANDS))
    options: SentinelOptions = field(init=False)
    in_include: bool = False

    def __post_init__(self) -> None:
        self.options = SentinelOptions(check_files=self.check_files)

    def read(self, text: str, path: str, *, stack: tuple[str, ...]) -> None:
        for index, raw in enumerate(text.split("\n")):
            line = trim_line(raw)
            if not line or line.startswith("#"):
                continue
            line_no = index + 1
            try:
                if "\x00" in line:
                    raise BadValueError("NUL byte in configuration line")
                try:
                    args = split_args(line)
                except ArgSplitError as exc:
                    raise BadValueError(str(exc)) from None
                if args:
                    self._directive(args, path, line_no, line, stack)
            except BadValueError as problem:
                raise SentinelConfigError(
                    problem.reason, path=path, line_no=line_no, line=line, hint=problem.hint
                ) from None

    def _ignore(self, name: str, path: str, line_no: int) -> None:
        self.ignored.append(IgnoredDirective(line_no, name, path))

    def _directive(
        self, args: list[str], path: str, line_no: int, line: str, stack: tuple[str, ...]
    ) -> None:
        name = args[0].lower()
        argc = len(args)
        if name in STANDARD_DIRECTIVES:
            multi = canonical_name(name) in MULTI_ARG_DIRECTIVES
            if not multi and argc != 2:
                raise BadValueError("wrong number of arguments", f"{name} takes one argument")
            values = args[1:]
            if multi and argc == 2 and args[1]:
                try:
                    values = split_args(args[1])
                except ArgSplitError as exc:
                    raise BadValueError(str(exc)) from None
            if not self._standard(canonical_name(name), values):
                self._ignore(name, path, line_no)
        elif name in DEPRECATED_DIRECTIVES and argc == 2:
            self._ignore(name, path, line_no)
        elif name == "include" and argc == 2:
            self._include(args[1], stack)
        elif name == "rename-command" and argc == 3:
            self._rename_command(args[1], args[2])
        elif name in ("user", "loadmodule") and argc >= 2:
            self._ignore(name, path, line_no)
        elif "." in name:
            if argc < 2:
                raise BadValueError("Module config specified without value")
            self._ignore(name, path, line_no)
        elif name == "sentinel":
            if argc == 1:
                self._ignore(name, path, line_no)
            elif self.in_include:
                raise BadValueError(
                    "sentinel directives in an included file are not supported",
                    "a config rewrite writes them into the main file, where Redis would then "
                    "find them twice; move them into the main file",
                )
            else:
                option = SentinelLine(args[1].lower(), tuple(args[2:]), line_no, line, path)
                self.options.add(option)
        else:
            raise BadValueError("Bad directive or wrong number of arguments")

    def _standard(self, name: str, values: list[str]) -> bool:
        """Apply a standard directive; False when sentinel_lab does not use it."""
        server = self.server
        value = values[0] if values else ""
        if name in BOOL_DIRECTIVES:
            flag = yes_no(value)
            if flag is None:
                raise BadValueError("argument must be 'yes' or 'no'")
            if name != "syslog-enabled":
                return False
            self.server = replace(server, syslog_enabled=flag)
        elif name in _ENUMS:
            if value.lower() not in _ENUMS[name]:
                choices = ", ".join(_ENUMS[name])
                raise BadValueError(f"argument(s) must be one of the following: {choices}")
            if name == "loglevel":
                self.server = replace(server, loglevel=value.lower())
            else:
                self.server = replace(server, syslog_facility=value.lower())
        elif name == "port":
            port = parse_redis_ll(value)
            if not 0 <= port <= 65535:
                raise BadValueError("argument must be between 0 and 65535 inclusive")
            self.server = replace(server, port=port)
        elif name == "bind":
            if len(values) > _BIND_MAX:
                raise BadValueError("Too many bind addresses specified.")
            addresses = () if values == [""] else tuple(values)
            self.server = replace(server, bind=addresses)
        elif name == "dir":
            target = self.cwd / value
            if self.check_files and not target.is_dir():
                reason = "No such file or directory" if not target.exists() else "Not a directory"
                raise BadValueError(reason)
            self.cwd = target
            self.server = replace(server, dir=value)
        elif name == "logfile":
            self.server = replace(server, logfile=value)
        elif name == "requirepass":
            self.server = replace(server, requirepass=value or None)
        elif name == "syslog-ident":
            self.server = replace(server, syslog_ident=value)
        else:
            return False
        return True

    def _rename_command(self, old: str, new: str) -> None:
        if old.lower() not in self.commands:
            raise BadValueError(
                "No such command in rename-command",
                f"Sentinel mode has only: {', '.join(sorted(SENTINEL_MODE_COMMANDS))}",
            )
        self.commands.discard(old.lower())
        if new:
            if new.lower() in self.commands:
                raise BadValueError("Target command name already exists")
            self.commands.add(new.lower())
        renamed = (*self.server.renamed_commands, (old, new))
        self.server = replace(self.server, renamed_commands=renamed)

    def _include(self, pattern: str, stack: tuple[str, ...]) -> None:
        full = str(self.cwd / pattern)
        # A pattern that matches nothing is skipped, as Redis does; a plain path must open.
        paths = sorted(glob.glob(full)) if any(ch in pattern for ch in "*?[") else [full]
        for included in paths:
            real = os.path.realpath(included)
            if real in stack:
                raise BadValueError("include cycle", f"{included} is already being read")
            text = read_config_text(included)
            outer = self.in_include
            self.in_include = True
            try:
                self.read(text, included, stack=(*stack, real))
            finally:
                self.in_include = outer
