"""The hello message: ``ip,port,runid,current_epoch,master_name,master_ip,master_port,
master_config_epoch``, PUBLISHed on ``__sentinel__:hello`` every 2 s."""

from __future__ import annotations

from dataclasses import dataclass

from sentinel_lab.core.errors import HelloFormatError

__all__ = ["Hello", "parse_hello"]


@dataclass(frozen=True, slots=True)
class Hello:
    """One parsed hello."""

    ip: str
    port: int
    runid: str
    current_epoch: int
    master_name: str
    master_ip: str
    master_port: int
    master_config_epoch: int

    def encode(self) -> bytes:
        """The payload as Redis formats it."""
        return (
            f"{self.ip},{self.port},{self.runid},{self.current_epoch},"
            f"{self.master_name},{self.master_ip},{self.master_port},{self.master_config_epoch}"
        ).encode()


def _unsigned(text: str, what: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise HelloFormatError(f"hello {what} is not a number: {text!r}")
    return int(text)


def parse_hello(payload: bytes | str) -> Hello:
    """Parse a hello; anything but exactly 8 well-formed fields raises HelloFormatError.

    Redis itself only checks the count and reads numbers with atoi/strtoull; we are
    stricter about numbers (a garbled number is dropped instead of read as 0).
    """
    if isinstance(payload, bytes | bytearray):
        try:
            text = bytes(payload).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise HelloFormatError("hello is not UTF-8") from exc
    else:
        text = payload
    fields = text.split(",")
    if len(fields) != 8:
        raise HelloFormatError(f"hello needs exactly 8 fields, got {len(fields)}")
    ip, port, runid, epoch, name, master_ip, master_port, config_epoch = fields
    if not ip or not runid or not name or not master_ip:
        raise HelloFormatError("hello has an empty field")
    port_n = _unsigned(port, "port")
    master_port_n = _unsigned(master_port, "master port")
    if port_n > 65535 or master_port_n > 65535:
        raise HelloFormatError("hello port out of range")
    return Hello(
        ip,
        port_n,
        runid,
        _unsigned(epoch, "current epoch"),
        name,
        master_ip,
        master_port_n,
        _unsigned(config_epoch, "config epoch"),
    )
