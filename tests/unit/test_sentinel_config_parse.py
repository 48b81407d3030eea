"""Parsing sentinel.conf into the typed model, as redis-sentinel 7.0.15 reads it."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinel_lab.config import (
    IgnoredDirective,
    KnownReplica,
    KnownSentinel,
    MasterConfig,
    SentinelConfig,
    ServerSettings,
    load_config,
    parse_config_text,
)
from sentinel_lab.config.directives import (
    ALIASES,
    MULTI_ARG_DIRECTIVES,
    SENTINEL_OPTION_ARITY,
    STANDARD_DIRECTIVES,
)

DEBIAN = Path("/etc/redis/sentinel.conf")
ID_A = "a" * 40
ID_B = "b" * 40


@pytest.mark.skipif(not DEBIAN.exists(), reason="Debian's redis-sentinel package is not installed")
def test_debian_file_as_shipped() -> None:
    loaded = load_config(DEBIAN)
    assert loaded.config == SentinelConfig(
        server=ServerSettings(dir="/var/lib/redis", logfile="/var/log/redis/redis-sentinel.log"),
        masters=(MasterConfig("mymaster", "127.0.0.1", 6379, 2),),
    )
    assert [(i.line_no, i.directive) for i in loaded.ignored] == [
        (6, "protected-mode"),
        (15, "daemonize"),
        (20, "pidfile"),
        (138, "acllog-max-len"),
    ]
    assert loaded.needs_rewrite  # no myid yet: Redis picks one and rewrites at start


def test_defaults() -> None:
    loaded = parse_config_text("")
    assert loaded.config == SentinelConfig()
    server = loaded.config.server
    assert (server.port, server.bind, server.deny_scripts_reconfig) == (26379, ("127.0.0.1",), True)


def test_every_sentinel_option() -> None:
    text = f"""
# comment
  SENTINEL myid {ID_A}
sentinel announce-ip 10.9.9.9
sentinel announce-port 26999
sentinel resolve-hostnames yes
sentinel announce-hostnames YES
sentinel deny-scripts-reconfig no
sentinel sentinel-user sent
sentinel sentinel-pass "se cret"
sentinel current-epoch 7
Sentinel Monitor mymaster redis.example 6380 2
sentinel down-after-milliseconds mymaster 5000
sentinel failover-timeout mymaster 60000
sentinel parallel-syncs mymaster 3
sentinel auth-pass mymaster 'p w'
sentinel auth-user mymaster admin
sentinel notification-script mymaster /bin/true
sentinel client-reconfig-script mymaster /bin/true
sentinel master-reboot-down-after-period mymaster 1000
sentinel config-epoch mymaster 9
sentinel leader-epoch mymaster 8
sentinel known-replica mymaster 10.0.0.2 6379
sentinel known-slave mymaster 10.0.0.3 6379
sentinel known-sentinel mymaster 10.0.0.4 26379 {ID_B}
sentinel known-sentinel mymaster 10.0.0.5 26379
sentinel rename-command mymaster CONFIG my-config
"""
    loaded = parse_config_text(text, check_files=True)
    assert loaded.config == SentinelConfig(
        server=ServerSettings(
            announce_ip="10.9.9.9",
            announce_port=26999,
            resolve_hostnames=True,
            announce_hostnames=True,
            deny_scripts_reconfig=False,
            sentinel_user="sent",
            sentinel_pass="se cret",
        ),
        masters=(
            MasterConfig(
                "mymaster",
                "redis.example",
                6380,
                2,
                down_after_ms=5000,
                failover_timeout_ms=60000,
                parallel_syncs=3,
                auth_pass="p w",
                auth_user="admin",
                notification_script="/bin/true",
                client_reconfig_script="/bin/true",
                master_reboot_down_after_period_ms=1000,
                config_epoch=9,
                leader_epoch=8,
                known_replicas=(KnownReplica("10.0.0.2", 6379), KnownReplica("10.0.0.3", 6379)),
                known_sentinels=(KnownSentinel("10.0.0.4", 26379, ID_B),),
                renamed_commands=(("CONFIG", "my-config"),),
            ),
        ),
        myid=ID_A,
        current_epoch=9,  # a config-epoch above current-epoch raises it, as in Redis
    )
    assert not loaded.needs_rewrite
    # the old known-sentinel form without a run id is skipped, as Redis skips it
    assert loaded.ignored == (IgnoredDirective(26, "sentinel known-sentinel", "<string>"),)


def test_options_may_come_before_their_monitor_line() -> None:
    text = "sentinel down-after-milliseconds m 100\nsentinel monitor m 127.0.0.1 1 1\n"
    assert parse_config_text(text).config.masters[0].down_after_ms == 100


def test_resolve_hostnames_applies_to_earlier_lines() -> None:
    text = "sentinel monitor m db.internal 6379 1\nsentinel resolve-hostnames yes\n"
    assert parse_config_text(text).config.masters[0].host == "db.internal"


def test_masters_keep_file_order_and_largest_epoch_wins() -> None:
    text = (
        "sentinel current-epoch 3\nsentinel monitor b ::1 1 1\nsentinel monitor a 127.0.0.1 2 1\n"
        "sentinel current-epoch 2\n"
    )
    config = parse_config_text(text).config
    assert [m.name for m in config.masters] == ["b", "a"]
    assert config.current_epoch == 3
    assert config.master("a").port == 2
    with pytest.raises(KeyError):
        config.master("A")  # master names are case-sensitive in Redis


def test_server_settings() -> None:
    text = (
        "port 0\nbind 127.0.0.1 ::1\nlogfile ''\nrequirepass \"\"\nloglevel WARNING\n"
        "syslog-enabled yes\nsyslog-ident sent\nsyslog-facility local3\n"
        "rename-command PING pong\nrename-command info ''\n"
    )
    server = parse_config_text(text).config.server
    assert server == ServerSettings(
        port=0,
        bind=("127.0.0.1", "::1"),
        requirepass=None,
        loglevel="warning",
        syslog_enabled=True,
        syslog_ident="sent",
        syslog_facility="local3",
        renamed_commands=(("PING", "pong"), ("info", "")),
    )


@pytest.mark.parametrize(
    ("line", "bind"),
    [
        ("bind 10.0.0.1", ("10.0.0.1",)),
        ('bind "10.0.0.1 -::1"', ("10.0.0.1", "-::1")),
        ('bind ""', ()),
        ("bind", ()),
    ],
)
def test_bind_forms(line: str, bind: tuple[str, ...]) -> None:
    assert parse_config_text(line).config.server.bind == bind


def test_ignored_directives_are_reported_with_their_lines() -> None:
    text = (
        "daemonize no\nslaveof 10.0.0.1 6379\nlist-max-ziplist-entries 5\nuser default on\n"
        "loadmodule /x.so\nmymod.opt 1\nsentinel\nsave ''\ntcp-keepalive 60\n"
    )
    ignored = [(i.line_no, i.directive) for i in parse_config_text(text).ignored]
    assert ignored == [
        (1, "daemonize"),
        (2, "slaveof"),
        (3, "list-max-ziplist-entries"),
        (4, "user"),
        (5, "loadmodule"),
        (6, "mymod.opt"),
        (7, "sentinel"),
        (8, "save"),
        (9, "tcp-keepalive"),
    ]


def test_include_with_glob_and_relative_paths(tmp_path: Path) -> None:
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    (conf_d / "a.conf").write_text("port 1000\n")
    (conf_d / "b.conf").write_text("port 2000\ndaemonize no\n")
    main = tmp_path / "sentinel.conf"
    main.write_text(
        f"dir {tmp_path}\ninclude conf.d/*.conf\ninclude nothing/*.conf\n{MONITOR_LINE}"
    )
    loaded = load_config(main)
    assert loaded.config.server.port == 2000  # files in sorted order; the last one wins
    assert IgnoredDirective(2, "daemonize", str(conf_d / "b.conf")) in loaded.ignored


MONITOR_LINE = "sentinel monitor m 127.0.0.1 6379 2\n"


def test_directive_table_matches_redis_70_config_c() -> None:
    # src/config.c at 7.0.15 has 178 entries in static_configs, 19 of them with an alias.
    assert len(ALIASES) == 19
    assert len(STANDARD_DIRECTIVES) == 178 + 19
    assert {
        "port",
        "bind",
        "daemonize",
        "pidfile",
        "protected-mode",
        "tls-port",
    } <= STANDARD_DIRECTIVES
    assert ALIASES["slaveof"] == "replicaof"
    assert "replicaof" in MULTI_ARG_DIRECTIVES
    assert len(SENTINEL_OPTION_ARITY) == 24
