"""Command tables: what a server answers to, with arity and flags as Redis has them.

A server takes its own ``CommandTable`` (Sentinel mode has exactly 15 top-level
commands, a cluster node many more). A ``Command`` has a lower-case name, an arity
in Redis's convention (``n`` means exactly n arguments counting the name, ``-n`` at
least n), ``CommandFlag`` flags, a handler, and optional subcommands (``CLIENT
SETNAME`` is the subcommand ``setname`` of ``client``, with full name
``client|setname`` in error texts, as in Redis 7.0).

A handler takes ``(connection, args)`` where ``args[0]`` is the command name as sent,
and returns a reply frame, ``None`` (no reply, or replies already sent with
``connection.send``) or an awaitable of either. It may raise ``CommandError`` to
answer with an error.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from labkit.resp.frames import Frame

if TYPE_CHECKING:
    from labkit.resp.connection import ClientConnection

__all__ = [
    "Command",
    "CommandFlag",
    "CommandTable",
    "Handler",
    "Reply",
    "arity_error",
    "sanitize_error",
]

Reply: TypeAlias = Frame | None
Handler: TypeAlias = Callable[["ClientConnection", list[bytes]], Reply | Awaitable[Reply]]


class CommandFlag(enum.Flag):
    """Command flags. All but ``SUBSCRIBE_CONTEXT`` are shown by ``COMMAND`` as in Redis."""

    NONE = 0
    WRITE = enum.auto()
    READONLY = enum.auto()
    ADMIN = enum.auto()
    PUBSUB = enum.auto()
    NOSCRIPT = enum.auto()
    LOADING = enum.auto()
    STALE = enum.auto()
    FAST = enum.auto()
    NO_AUTH = enum.auto()
    """Allowed before AUTH (Redis's ``no_auth``)."""
    SENTINEL = enum.auto()
    ONLY_SENTINEL = enum.auto()
    NO_MULTI = enum.auto()
    ALLOW_BUSY = enum.auto()
    SUBSCRIBE_CONTEXT = enum.auto()
    """Allowed while a RESP2 connection is in subscribe mode (ours; Redis hard-codes it)."""


_FLAG_NAMES: Final = {
    CommandFlag.WRITE: "write",
    CommandFlag.READONLY: "readonly",
    CommandFlag.ADMIN: "admin",
    CommandFlag.PUBSUB: "pubsub",
    CommandFlag.NOSCRIPT: "noscript",
    CommandFlag.LOADING: "loading",
    CommandFlag.STALE: "stale",
    CommandFlag.FAST: "fast",
    CommandFlag.NO_AUTH: "no_auth",
    CommandFlag.SENTINEL: "sentinel",
    CommandFlag.ONLY_SENTINEL: "only_sentinel",
    CommandFlag.NO_MULTI: "no_multi",
    CommandFlag.ALLOW_BUSY: "allow_busy",
}


@dataclass(frozen=True, slots=True)
class Command:
    """One command (or subcommand) of a server."""

    name: str
    arity: int
    handler: Handler | None = None
    flags: CommandFlag = CommandFlag.NONE
    subcommands: tuple[Command, ...] = ()
    summary: str = ""
    group: str = "generic"
    since: str = "1.0.0"
    parent: str = ""
    acl_categories: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.name != self.name.lower() or not self.name:
            raise ValueError(f"command names are lower case and not empty: {self.name!r}")
        if self.arity == 0:
            raise ValueError("arity 0 is not valid")
        if self.handler is None and (not self.subcommands or self.arity_ok(1)):
            raise ValueError(f"command {self.name!r} needs a handler, or subcommands and arity -2")

    @property
    def fullname(self) -> str:
        """``name`` or ``parent|name`` as Redis 7.0 shows subcommands."""
        return f"{self.parent}|{self.name}" if self.parent else self.name

    @property
    def flag_names(self) -> list[str]:
        """Redis's names of the flags (for ``COMMAND``)."""
        return [name for flag, name in _FLAG_NAMES.items() if flag in self.flags]

    def arity_ok(self, argc: int) -> bool:
        """Whether ``argc`` arguments (counting the name) satisfy the arity."""
        return argc == self.arity if self.arity > 0 else argc >= -self.arity

    def subcommand(self, name: str) -> Command | None:
        """The subcommand called ``name`` (any case), or None."""
        lowered = name.lower()
        for sub in self.subcommands:
            if sub.name == lowered:
                return sub
        return None

    def with_subcommands(self, *subs: Command) -> Command:
        """A copy with ``subs`` added (replacing same-named ones), parented to this."""
        names = {sub.name for sub in subs}
        kept = [s for s in self.subcommands if s.name not in names]
        fixed = [_reparent(sub, self.name) for sub in subs]
        return _replace(self, subcommands=tuple(kept + fixed))


def _reparent(sub: Command, parent: str) -> Command:
    return sub if sub.parent == parent else _replace(sub, parent=parent)


def _replace(cmd: Command, **changes: Any) -> Command:
    return replace(cmd, **changes)


def sanitize_error(text: str) -> str:
    """Replace CR and LF with spaces, as Redis does before sending an error."""
    return text.replace("\r", " ").replace("\n", " ")


def arity_error(fullname: str) -> str:
    """Redis's wrong-arity error text."""
    return f"ERR wrong number of arguments for '{fullname}' command"


def _c_arg(arg: bytes, limit: int) -> str:
    """An argument as ``%.*s`` prints it: cut at NUL and at ``limit`` bytes."""
    return arg.split(b"\0", 1)[0][:limit].decode("utf-8", "surrogateescape")


class CommandTable:
    """The commands of one server, by lower-case name."""

    def __init__(self, commands: Iterable[Command] = ()) -> None:
        self._commands: dict[str, Command] = {}
        for command in commands:
            self.add(command)

    def add(self, command: Command) -> None:
        """Add or replace a top-level command; its subcommands get it as parent."""
        if command.subcommands:
            command = _replace(
                command, subcommands=tuple(_reparent(s, command.name) for s in command.subcommands)
            )
        self._commands[command.name] = command

    def remove(self, name: str) -> None:
        """Remove a command if present."""
        self._commands.pop(name.lower(), None)

    def get(self, name: str) -> Command | None:
        """The top-level command called ``name`` (any case), or None."""
        return self._commands.get(name.lower())

    def command(
        self, name: str, arity: int, flags: CommandFlag = CommandFlag.NONE, summary: str = ""
    ) -> Callable[[Handler], Handler]:
        """Decorator that adds a handler as a command."""

        def register(handler: Handler) -> Handler:
            self.add(Command(name, arity, handler, flags, summary=summary))
            return handler

        return register

    def copy(self) -> CommandTable:
        """A shallow copy that can be changed independently."""
        return CommandTable(self._commands.values())

    def select(self, *names: str) -> CommandTable:
        """A table holding only the named commands (KeyError for unknown names)."""
        return CommandTable(self._commands[name.lower()] for name in names)

    def __iter__(self) -> Iterator[Command]:
        return iter(list(self._commands.values()))

    def __len__(self) -> int:
        return len(self._commands)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._commands

    def lookup(self, args: list[bytes]) -> tuple[Command | None, str]:
        """Find the command for ``args``; on failure return Redis's error text."""
        name = args[0].decode("utf-8", "surrogateescape")
        command = self._commands.get(name.lower())
        if command is not None and command.subcommands and len(args) >= 2:
            sub = command.subcommand(args[1].decode("utf-8", "surrogateescape"))
            if sub is None:
                text = (
                    f"ERR unknown subcommand '{_c_arg(args[1], 128)}'. "
                    f"Try {command.name.upper()} HELP."
                )
                return None, sanitize_error(text)
            return sub, ""
        if command is None:
            shown = ""
            for arg in args[1:]:
                if len(shown.encode("utf-8", "surrogateescape")) >= 128:
                    break
                room = 128 - len(shown.encode("utf-8", "surrogateescape"))
                shown += f"'{_c_arg(arg, room)}' "
            text = (
                f"ERR unknown command '{_c_arg(args[0], 128)}', with args beginning with: {shown}"
            )
            return None, sanitize_error(text)
        return command, ""
