"""The image builder's pure parts: ldd parsing and the root filesystem layout."""

from __future__ import annotations

import pytest

from labkit.realredis.binaries import find_binaries
from labkit.realredis.dockercli import ContainerError
from labkit.realredis.images import local_image_tags, parse_ldd, rootfs_entries

LDD = """\
\tlinux-vdso.so.1 (0x00007ffd6b5e2000)
\tlibssl.so.3 => /lib/x86_64-linux-gnu/libssl.so.3 (0x00007f3a0d886000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f3a0ca1e000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f3a0d954000)
"""


def test_parse_ldd_keeps_libraries_and_loader() -> None:
    assert parse_ldd(LDD) == [
        "/lib/x86_64-linux-gnu/libssl.so.3",
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/lib64/ld-linux-x86-64.so.2",
    ]


def test_parse_ldd_rejects_a_missing_library() -> None:
    with pytest.raises(ContainerError, match="libfoo"):
        parse_ldd("\tlibfoo.so.1 => not found\n")


def test_parse_ldd_of_a_static_binary_is_empty() -> None:
    assert parse_ldd("\tnot a dynamic executable\n") == []


def test_local_tags_name_the_full_and_short_version() -> None:
    assert local_image_tags((7, 0, 15)) == ["redis-lab/redis:7.0.15", "redis-lab/redis:7.0"]


@pytest.mark.realredis
def test_rootfs_holds_the_binaries_their_names_and_the_loader() -> None:
    entries = {e.path: e for e in rootfs_entries(find_binaries())}
    assert entries["/usr/bin/redis-server"].source is not None
    assert entries["/usr/bin/redis-cli"].source is not None
    assert entries["/usr/bin/redis-sentinel"].link == "redis-server"
    assert any(path.endswith("/libc.so.6") for path in entries)
    assert any("ld-linux" in path for path in entries)
    assert entries["/tmp"].mode == 0o1777
    assert "/data" in entries
