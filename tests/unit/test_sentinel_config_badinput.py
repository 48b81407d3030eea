"""Malformed sentinel.conf input: each case names its line and a clear reason.

``BAD_CASES`` is shared with the real-Redis test, which checks that redis-sentinel 7.0.15
reports the same line and reason wherever ``redis_agrees`` is set, and accepts the file
where we are deliberately stricter.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentinel_lab.config import (
    SentinelConfig,
    SentinelConfigError,
    load_config,
    parse_config_text,
    rewrite_config,
)
from sentinel_lab.errors import SentinelLabError

MONITOR = "sentinel monitor m 127.0.0.1 6379 2\n"


@dataclass(frozen=True, slots=True)
class BadCase:
    """A config text, the line it fails on, and the reason (Redis's text where it has one)."""

    id: str
    text: str
    line_no: int
    reason: str
    redis_agrees: bool = True


BAD_CASES = [
    BadCase(
        "unknown directive", "port 0\nnosuch 1\n", 2, "Bad directive or wrong number of arguments"
    ),
    BadCase("standard arity", "port 1 2\n", 1, "wrong number of arguments"),
    BadCase("port not a number", "port abc\n", 1, "argument couldn't be parsed into an integer"),
    BadCase("port leading zero", "port 026379\n", 1, "argument couldn't be parsed into an integer"),
    BadCase("port range", "port 70000\n", 1, "argument must be between 0 and 65535 inclusive"),
    BadCase("unbalanced double", 'logfile "x\n', 1, "Unbalanced quotes in configuration line"),
    BadCase("unbalanced single", "logfile 'x'y\n", 1, "Unbalanced quotes in configuration line"),
    BadCase("bool value", "daemonize maybe\n", 1, "argument must be 'yes' or 'no'"),
    BadCase(
        "enum value",
        "loglevel loud\n",
        1,
        "argument(s) must be one of the following: debug, verbose, notice, warning",
    ),
    BadCase(
        "too many binds",
        "bind " + " ".join(["127.0.0.1"] * 17) + "\n",
        1,
        "Too many bind addresses specified.",
    ),
    BadCase("missing dir", "dir /nonexistent/sentinel-lab\n", 1, "No such file or directory"),
    BadCase("module option", "foo.bar\n", 1, "Module config specified without value"),
    BadCase("rename unknown", "rename-command CONFIG x\n", 1, "No such command in rename-command"),
    BadCase(
        "rename onto existing",
        "rename-command ping info\n",
        1,
        "Target command name already exists",
    ),
    BadCase(
        "unknown sentinel option",
        "sentinel foo bar\n",
        1,
        "Unrecognized sentinel configuration statement.",
    ),
    BadCase(
        "monitor arity",
        "sentinel monitor m 127.0.0.1 6379\n",
        1,
        "Unrecognized sentinel configuration statement.",
    ),
    BadCase(
        "quorum zero", "sentinel monitor m 127.0.0.1 6379 0\n", 1, "Quorum must be 1 or greater."
    ),
    BadCase(
        "quorum negative",
        "sentinel monitor m 127.0.0.1 6379 -1\n",
        1,
        "Quorum must be 1 or greater.",
    ),
    BadCase(
        "quorum word", "sentinel monitor m 127.0.0.1 6379 two\n", 1, "Quorum must be 1 or greater."
    ),
    BadCase(
        "master port range", "sentinel monitor m 127.0.0.1 70000 2\n", 1, "Invalid port number."
    ),
    BadCase(
        "master port word",
        "sentinel monitor m 127.0.0.1 abc 2\n",
        1,
        "Invalid port number.",
        redis_agrees=False,  # atoi: Redis monitors port 0
    ),
    BadCase(
        "hostname without resolve",
        "sentinel monitor m localhost 6379 2\n",
        1,
        "Can't resolve instance hostname.",
    ),
    BadCase("duplicate master", MONITOR * 2, 2, "Duplicate master name."),
    BadCase(
        "option before any monitor",
        "\n\nsentinel down-after-milliseconds m 100\n",
        3,
        "No such master with specified name.",
    ),
    BadCase(
        "option for another master",
        MONITOR + "sentinel auth-pass other x\n",
        2,
        "No such master with specified name.",
    ),
    BadCase(
        "down-after zero",
        MONITOR + "sentinel down-after-milliseconds m 0\n",
        2,
        "negative or zero time parameter.",
    ),
    BadCase(
        "failover-timeout negative",
        MONITOR + "sentinel failover-timeout m -5\n",
        2,
        "negative or zero time parameter.",
    ),
    BadCase(
        "reboot period negative",
        MONITOR + "sentinel master-reboot-down-after-period m -1\n",
        2,
        "negative time parameter.",
    ),
    BadCase("myid length", "sentinel myid abc\n", 1, "Malformed Sentinel id in myid option."),
    BadCase(
        "duplicate replica",
        MONITOR + "sentinel known-replica m 10.0.0.1 6379\nsentinel known-slave m 10.0.0.1 6379\n",
        3,
        "Duplicate hostname and port for replica.",
    ),
    BadCase(
        "duplicate sentinel runid",
        MONITOR
        + "sentinel known-sentinel m 10.0.0.1 26379 "
        + "a" * 40
        + "\nsentinel known-sentinel m 10.0.0.2 26379 "
        + "a" * 40
        + "\n",
        3,
        "Duplicate runid for sentinel.",
    ),
    BadCase(
        "deny-scripts value",
        "sentinel deny-scripts-reconfig maybe\n",
        1,
        "Please specify yes or no for the deny-scripts-reconfig options.",
    ),
    BadCase(
        "resolve-hostnames value",
        "sentinel resolve-hostnames 1\n",
        1,
        "Please specify yes or no for the resolve-hostnames option.",
    ),
    BadCase(
        "missing notification script",
        MONITOR + "sentinel notification-script m /nonexistent/notify.sh\n",
        2,
        "Notification script seems non existing or non executable.",
    ),
    BadCase(
        "reconfig script not executable",
        MONITOR + "sentinel client-reconfig-script m /etc/passwd\n",
        2,
        "Client reconfiguration script seems non existing or non executable.",
    ),
    BadCase(
        "rename twice",
        MONITOR + "sentinel rename-command m CONFIG a\nsentinel rename-command m config b\n",
        3,
        "Same command renamed multiple times with rename-command.",
    ),
    # Redis reads the whole file before it applies any sentinel line...
    BadCase(
        "server errors first",
        "sentinel foo\nnosuch x\n",
        2,
        "Bad directive or wrong number of arguments",
    ),
    # ...and then applies the global sentinel options before the monitors.
    BadCase(
        "global options first",
        "sentinel monitor m 127.0.0.1 6379 0\nsentinel myid abc\n",
        2,
        "Malformed Sentinel id in myid option.",
    ),
    BadCase(
        "current-epoch word",
        "sentinel current-epoch abc\n",
        1,
        "Invalid current-epoch value.",
        redis_agrees=False,  # strtoull: Redis reads 0
    ),
    BadCase(
        "config-epoch negative",
        MONITOR + "sentinel config-epoch m -1\n",
        2,
        "Invalid config-epoch value.",
        redis_agrees=False,  # strtoull: Redis reads 2**64-1
    ),
    BadCase(
        "parallel-syncs word",
        MONITOR + "sentinel parallel-syncs m many\n",
        2,
        "Invalid parallel-syncs value.",
        redis_agrees=False,
    ),
    BadCase(
        "announce-port range",
        "sentinel announce-port 70000\n",
        1,
        "Invalid port number.",
        redis_agrees=False,
    ),
    BadCase(
        "NUL byte",
        "port 0\nsyslog-ident a\x00b\n",
        2,
        "NUL byte in configuration line",
        redis_agrees=False,
    ),
]


@pytest.mark.parametrize("case", BAD_CASES, ids=[c.id for c in BAD_CASES])
def test_bad_line_names_line_and_reason(case: BadCase) -> None:
    with pytest.raises(SentinelConfigError) as caught:
        parse_config_text(case.text, path="/x/sentinel.conf", check_files=True)
    err = caught.value
    assert err.line_no == case.line_no
    assert err.reason == case.reason
    assert err.line == case.text.split("\n")[case.line_no - 1].strip()
    assert f"/x/sentinel.conf, line {case.line_no}" in str(err)
    assert case.reason in str(err)
    assert f"at line {case.line_no}\n>>> '{err.line}'" in err.redis_report()
    assert isinstance(err, SentinelLabError)


def test_stricter_cases_say_what_redis_would_read() -> None:
    with pytest.raises(SentinelConfigError) as caught:
        parse_config_text("sentinel monitor m 127.0.0.1 12abc 2\n")
    assert caught.value.hint == "'12abc' is not an integer; Redis would read 12"


def test_wrong_arity_hint_names_the_expected_count() -> None:
    with pytest.raises(SentinelConfigError) as caught:
        parse_config_text("sentinel monitor m 127.0.0.1 6379\n")
    assert caught.value.hint == "sentinel monitor takes 4 argument(s), not 3"


def test_non_utf8_bytes(tmp_path: Path) -> None:
    path = tmp_path / "sentinel.conf"
    path.write_bytes(b"port 26379\n# caf\xe9\nlogfile x\n")
    with pytest.raises(SentinelConfigError) as caught:
        load_config(path)
    assert caught.value.line_no == 2
    assert caught.value.reason == "Invalid UTF-8 in configuration line"
    assert caught.value.line == "# caf\\xe9"


def test_escape_that_makes_invalid_utf8() -> None:
    with pytest.raises(SentinelConfigError) as caught:
        parse_config_text('port 1\nlogfile "\\xff"\n')
    assert caught.value.line_no == 2
    assert "UTF-8" in caught.value.reason


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.conf"
    with pytest.raises(SentinelConfigError) as caught:
        load_config(path)
    assert caught.value.line_no is None
    assert str(caught.value).endswith(
        f"Fatal error, can't open config file '{path}': No such file or directory"
    )


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(SentinelConfigError, match="Is a directory"):
        load_config(tmp_path)


def test_missing_include(tmp_path: Path) -> None:
    path = tmp_path / "sentinel.conf"
    path.write_text("port 1\ninclude /nonexistent/extra.conf\n")
    with pytest.raises(
        SentinelConfigError, match=re.escape("can't open config file '/nonexistent/extra.conf'")
    ):
        load_config(path)


def test_error_inside_include_names_the_included_file(tmp_path: Path) -> None:
    (tmp_path / "extra.conf").write_text("# extra\nport 1 2\n")
    path = tmp_path / "sentinel.conf"
    path.write_text(f"include {tmp_path}/extra.conf\n")
    with pytest.raises(SentinelConfigError) as caught:
        load_config(path)
    assert caught.value.path == tmp_path / "extra.conf"
    assert caught.value.line_no == 2


def test_sentinel_lines_in_an_include_are_refused(tmp_path: Path) -> None:
    (tmp_path / "extra.conf").write_text(MONITOR)
    path = tmp_path / "sentinel.conf"
    path.write_text(f"include {tmp_path}/extra.conf\n")
    with pytest.raises(SentinelConfigError, match="included file are not supported"):
        load_config(path)


def test_include_cycle(tmp_path: Path) -> None:
    path = tmp_path / "sentinel.conf"
    path.write_text(f"port 1\ninclude {path}\n")
    with pytest.raises(SentinelConfigError, match="include cycle"):
        load_config(path)


def _rewrite_fails(path: Path) -> SentinelConfigError:
    with pytest.raises(SentinelConfigError) as caught:
        rewrite_config(path, SentinelConfig(myid="f" * 40))
    return caught.value


def test_rewrite_into_a_missing_folder(tmp_path: Path) -> None:
    err = _rewrite_fails(tmp_path / "gone" / "sentinel.conf")
    assert err.reason.startswith("Could not create tmp config file")
    assert "not able to save the new configuration" in str(err)


def test_rewrite_into_an_unwritable_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "sentinel.conf"
    path.write_text(MONITOR)
    if os.geteuid() == 0:
        # root writes through permission bits; a read-only mount stops everyone.
        path = Path("/proc/sentinel-lab-test.conf")
    else:
        folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        err = _rewrite_fails(path)
    finally:
        folder.chmod(stat.S_IRWXU)
    assert err.reason.startswith("Could not create tmp config file")
    if os.geteuid() != 0:
        assert path.read_text() == MONITOR
        assert os.listdir(folder) == ["sentinel.conf"]


def test_rewrite_without_myid_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SentinelConfigError, match="ensure_myid"):
        rewrite_config(tmp_path / "sentinel.conf", SentinelConfig())


# -- fuzzing: nothing but SentinelConfigError escapes ------------------------------------

_WORDS = st.sampled_from(
    [
        "sentinel", "monitor", "m", "known-replica", "known-sentinel", "myid", "current-epoch",
        "config-epoch", "port", "bind", "include", "rename-command", "dir", "127.0.0.1", "::1",
        "6379", "0", "-1", "2", "a" * 40, '"', "'", "\\x4", "#", "yes", "no", "\t", "x.y", "",
    ]
)  # fmt: skip
_LINES = st.lists(st.lists(_WORDS, max_size=7).map(" ".join), max_size=12).map("\n".join)


def _parse_or_config_error(text: str) -> None:
    with contextlib.suppress(SentinelConfigError):
        parse_config_text(text, path="/fuzz/sentinel.conf", check_files=False)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_fuzz_random_text(text: str) -> None:
    _parse_or_config_error(text)


@settings(max_examples=400)
@given(_LINES)
def test_fuzz_config_like_text(text: str) -> None:
    _parse_or_config_error(text)


@settings(max_examples=100)
@given(st.binary(max_size=200))
def test_fuzz_random_bytes_in_a_file(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "sentinel.conf"
    path.write_bytes(data)
    with contextlib.suppress(SentinelConfigError):
        load_config(path, check_files=False)
