"""Rewriting sentinel.conf as Sentinel's CONFIG REWRITE does; round trips; the CLI."""

from __future__ import annotations

import os
import random
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentinel_lab.config import (
    REWRITE_SIGNATURE,
    KnownReplica,
    KnownSentinel,
    MasterConfig,
    SentinelConfig,
    ServerSettings,
    ensure_myid,
    load_config,
    parse_config_text,
    render_rewrite,
    rewrite_config,
    sentinel_lines,
)
from sentinel_lab.config.__main__ import main as cli_main

DEBIAN = Path("/etc/redis/sentinel.conf")
ID_A = "a" * 40
ID_B = "b" * 40
ID_C = "c" * 40


def _state(config: SentinelConfig) -> SentinelConfig:
    """What a sentinel has learned after a failover: epochs, peers, replicas, options."""
    master = config.masters[0]
    master = replace(
        master,
        host="127.0.0.2",
        port=6380,
        down_after_ms=5000,
        auth_pass="pa ss",
        config_epoch=5,
        leader_epoch=5,
        known_replicas=(KnownReplica("127.0.0.1", 6379), KnownReplica("127.0.0.3", 6381)),
        known_sentinels=(KnownSentinel("127.0.0.1", 26380, ID_B),),
    )
    server = replace(config.server, announce_ip="10.0.0.9")
    return replace(config, server=server, masters=(master,), myid=ID_A, current_epoch=5)


@pytest.mark.skipif(not DEBIAN.exists(), reason="Debian's redis-sentinel package is not installed")
def test_debian_round_trip() -> None:
    old = DEBIAN.read_text()
    loaded = load_config(DEBIAN)
    state = _state(loaded.config)
    new = render_rewrite(old, state)
    assert parse_config_text(new).config == state
    # the user's comments and server lines stay; trailing blanks go, as Redis trims lines
    assert [line.rstrip() for line in old.splitlines()[:70]] == new.splitlines()[:70]
    assert "SENTINEL resolve-hostnames no" not in new
    assert "\nsentinel resolve-hostnames no\n" in new  # rewritten in place, lowercased
    assert new.count(REWRITE_SIGNATURE) == 1
    generated = new.split(REWRITE_SIGNATURE + "\n")[1].splitlines()
    assert generated == [
        f"sentinel myid {ID_A}",
        'sentinel auth-pass mymaster "pa ss"',
        "sentinel config-epoch mymaster 5",
        "sentinel leader-epoch mymaster 5",
        "sentinel known-replica mymaster 127.0.0.1 6379",
        "sentinel known-replica mymaster 127.0.0.3 6381",
        f"sentinel known-sentinel mymaster 127.0.0.1 26380 {ID_B}",
        "sentinel current-epoch 5",
        'sentinel announce-ip "10.0.0.9"',
    ]
    # the monitor and down-after lines were updated where they stood
    assert "\nsentinel monitor mymaster 127.0.0.2 6380 2\n" in new.split(REWRITE_SIGNATURE)[0]
    assert "sentinel down-after-milliseconds mymaster 5000\n" in new.split(REWRITE_SIGNATURE)[0]
    assert "failover-timeout" not in "\n".join(
        line for line in new.splitlines() if not line.startswith("#")
    )


def test_lines_are_reused_in_place_and_stale_ones_blanked() -> None:
    old = (
        "port 26379\n"
        f"sentinel myid {ID_A}\n"
        "sentinel monitor m 10.0.0.1 6379 2\n"
        "sentinel known-replica m 10.0.0.2 6379\n"
        "\n\n\n"
        "sentinel known-slave m 10.0.0.3 6379\n"
        "sentinel parallel-syncs m 1\n"
        f"{REWRITE_SIGNATURE}\n"
        "sentinel current-epoch 1\n"
    )
    config = replace(
        parse_config_text(old).config,
        masters=(
            MasterConfig(
                "m", "10.0.0.2", 6379, 2, known_replicas=(KnownReplica("10.0.0.1", 6379),)
            ),
        ),
        current_epoch=2,
    )
    assert render_rewrite(old, config) == (
        "port 26379\n"
        f"sentinel myid {ID_A}\n"
        "sentinel monitor m 10.0.0.2 6379 2\n"
        "sentinel known-replica m 10.0.0.1 6379\n"
        "\n"
        f"{REWRITE_SIGNATURE}\n"
        "sentinel current-epoch 2\n"
        "\n"
        "sentinel config-epoch m 0\n"
        "sentinel leader-epoch m 0\n"
    )


def test_fresh_file_and_the_order_redis_writes() -> None:
    config = SentinelConfig(
        server=ServerSettings(
            deny_scripts_reconfig=False,
            resolve_hostnames=True,
            announce_port=1,
            sentinel_user="u",
            sentinel_pass="p",
        ),
        masters=(
            MasterConfig(
                "m",
                "h",
                1,
                1,
                down_after_ms=1,
                failover_timeout_ms=2,
                parallel_syncs=3,
                notification_script="/n",
                client_reconfig_script="/c",
                auth_pass="ap",
                auth_user="au",
                master_reboot_down_after_period_ms=4,
                known_sentinels=(KnownSentinel("s", 2, ID_B),),
                renamed_commands=(("config", "cfg"),),
            ),
        ),
        myid=ID_A,
    )
    assert render_rewrite(None, config).splitlines() == [REWRITE_SIGNATURE, *sentinel_lines(config)]
    assert sentinel_lines(config) == [
        f"sentinel myid {ID_A}",
        "sentinel deny-scripts-reconfig no",
        "sentinel resolve-hostnames yes",
        "sentinel monitor m h 1 1",
        "sentinel down-after-milliseconds m 1",
        "sentinel failover-timeout m 2",
        "sentinel parallel-syncs m 3",
        "sentinel notification-script m /n",
        "sentinel client-reconfig-script m /c",
        "sentinel auth-pass m ap",
        "sentinel auth-user m au",
        "sentinel master-reboot-down-after-period m 4",
        "sentinel config-epoch m 0",
        "sentinel leader-epoch m 0",
        f"sentinel known-sentinel m s 2 {ID_B}",
        "sentinel rename-command m config cfg",
        "sentinel current-epoch 0",
        "sentinel announce-port 1",
        "sentinel sentinel-user u",
        "sentinel sentinel-pass p",
    ]


def test_unset_globals_remove_their_lines_and_unknown_lines_become_comments() -> None:
    old = f'sentinel myid {ID_A}\nsentinel announce-ip "1.2.3.4"\nmod.opt 1\nport 1 "x\n'
    new = render_rewrite(old, SentinelConfig(myid=ID_A))
    assert new == (
        f'sentinel myid {ID_A}\n\n# ??? mod.opt 1\n# ??? port 1 "x\n\n'
        f"{REWRITE_SIGNATURE}\nsentinel current-epoch 0\n"
    )


def test_repeated_rewrites_reach_a_fixed_point() -> None:
    config = _state(parse_config_text("sentinel monitor mymaster 127.0.0.1 6379 2\n").config)
    once = render_rewrite("port 1\n", config)
    twice = render_rewrite(once, config)
    assert twice == once + "\n"  # Redis keeps the empty last line, squeezed to one
    assert render_rewrite(twice, config) == twice


def test_ensure_myid() -> None:
    config, picked = ensure_myid(SentinelConfig(), random.Random(7))
    assert picked and config.myid is not None
    assert len(config.myid) == 40 and set(config.myid) <= set("0123456789abcdef")
    assert ensure_myid(SentinelConfig(), random.Random(7))[0] == config
    assert ensure_myid(config) == (config, False)
    fresh, picked = ensure_myid(SentinelConfig())
    assert picked and fresh.myid is not None and len(fresh.myid) == 40


def test_rewrite_config_writes_atomically(tmp_path: Path) -> None:
    path = tmp_path / "sentinel.conf"
    path.write_text("port 26379\nsentinel monitor m 127.0.0.1 6379 2\n")
    os.chmod(path, 0o600)
    config, _ = ensure_myid(load_config(path).config, random.Random(1))
    rewrite_config(path, config)
    assert load_config(path).config == config
    assert os.listdir(tmp_path) == ["sentinel.conf"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644 & ~umask


def test_rewrite_config_creates_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "sentinel.conf"
    rewrite_config(path, SentinelConfig(myid=ID_C))
    assert (
        path.read_text() == f"{REWRITE_SIGNATURE}\nsentinel myid {ID_C}\nsentinel current-epoch 0\n"
    )


# -- property: whatever the model, the rewritten file reads back as the same model ---------

_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
_HOST = st.sampled_from(["127.0.0.1", "10.1.2.3", "::1", "fe80::1"])
_PORT = st.integers(0, 65535)
_EPOCH = st.integers(0, 2**64 - 1)
_INT = st.integers(-(2**31), 2**31 - 1)
_POSITIVE = st.integers(1, 2**31 - 1)
_ID = st.text("0123456789abcdef", min_size=40, max_size=40)


@st.composite
def _masters(draw: st.DrawFn) -> tuple[MasterConfig, ...]:
    names = draw(st.lists(_TEXT, max_size=3, unique=True))
    masters = []
    for name in names:
        replicas = draw(st.lists(st.tuples(_HOST, _PORT), max_size=3, unique=True))
        sentinels = draw(
            st.lists(st.tuples(_HOST, _PORT, _ID), max_size=3, unique_by=lambda s: s[2])
        )
        renamed = draw(
            st.lists(st.tuples(_TEXT, _TEXT), max_size=2, unique_by=lambda r: r[0].lower())
        )
        masters.append(
            MasterConfig(
                name=name,
                host=draw(_HOST),
                port=draw(_PORT),
                quorum=draw(_POSITIVE),
                down_after_ms=draw(_POSITIVE),
                failover_timeout_ms=draw(_POSITIVE),
                parallel_syncs=draw(_INT),
                auth_pass=draw(st.none() | _TEXT),
                auth_user=draw(st.none() | _TEXT),
                notification_script=draw(st.none() | _TEXT),
                client_reconfig_script=draw(st.none() | _TEXT),
                master_reboot_down_after_period_ms=draw(st.integers(0, 2**31 - 1)),
                config_epoch=draw(_EPOCH),
                leader_epoch=draw(_EPOCH),
                known_replicas=tuple(KnownReplica(h, p) for h, p in replicas),
                known_sentinels=tuple(KnownSentinel(h, p, r) for h, p, r in sentinels),
                renamed_commands=tuple(renamed),
            )
        )
    return tuple(masters)


@st.composite
def _configs(draw: st.DrawFn) -> SentinelConfig:
    masters = draw(_masters())
    epoch = max([draw(_EPOCH), *(m.config_epoch for m in masters)])
    nonempty = _TEXT.filter(bool)
    server = ServerSettings(
        announce_ip=draw(st.none() | nonempty),
        announce_port=draw(_PORT),
        resolve_hostnames=draw(st.booleans()),
        announce_hostnames=draw(st.booleans()),
        deny_scripts_reconfig=draw(st.booleans()),
        sentinel_user=draw(st.none() | nonempty),
        sentinel_pass=draw(st.none() | nonempty),
    )
    return SentinelConfig(server=server, masters=masters, myid=draw(_ID), current_epoch=epoch)


@settings(max_examples=150, deadline=None)
@given(_configs(), _configs())
def test_rewrite_then_parse_gives_back_the_model(
    first: SentinelConfig, second: SentinelConfig
) -> None:
    text = render_rewrite("port 26379\n# mine\n", first)
    assert parse_config_text(text).config == replace(
        first, server=replace(first.server, port=26379)
    )
    assert parse_config_text(render_rewrite(text, second)).config == second


@settings(max_examples=150)
@given(st.text(max_size=200))
def test_rewrite_over_any_old_text_never_crashes(old: str) -> None:
    new = render_rewrite(old, SentinelConfig(myid=ID_A))
    assert f"sentinel myid {ID_A}\n" in new


# -- the CLI -------------------------------------------------------------------------------


def test_cli_check_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sentinel.conf"
    path.write_text("daemonize no\nsentinel monitor m 127.0.0.1 6379 2\n")
    assert cli_main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{path}: OK" in out
    assert "master m 127.0.0.1:6379 quorum 2" in out
    assert "ignored: line 1 daemonize" in out


def test_cli_check_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sentinel.conf"
    path.write_text("port 1\nsentinel monitor m 127.0.0.1 6379 0\n")
    assert cli_main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"Reading the configuration file {path}, at line 2" in err
    assert "Quorum must be 1 or greater." in err
