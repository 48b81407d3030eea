"""``python -m labkit.history check``: exit statuses 0/1/2/3, messages, JSON output."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from labkit.history import HistoryEvent, write_history
from labkit.history.__main__ import main
from labkit.history.cli import register

VALID = [
    HistoryEvent(0, "invoke", "write", 1, "k"),
    HistoryEvent(0, "ok", "write", 1, "k"),
    HistoryEvent(1, "invoke", "read", None, "k"),
    HistoryEvent(1, "ok", "read", 1, "k"),
]
INVALID = [
    *VALID,
    HistoryEvent(1, "invoke", "read", None, "k"),
    HistoryEvent(1, "ok", "read", None, "k"),
]


def pathological(writers: int = 24) -> list[HistoryEvent]:
    """Concurrent increments by distinct powers of two, and an impossible read: every subset
    of the increments gives another state, and the cheap checks do not apply to counters."""
    events = [HistoryEvent(p, "invoke", "incr", 2**p) for p in range(writers)]
    events += [
        HistoryEvent(writers, "invoke", "read", None),
        HistoryEvent(writers, "ok", "read", -1),
    ]
    return events + [HistoryEvent(p, "ok", "incr", 2**p) for p in range(writers)]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {name: tmp_path / f"{name}.jsonl" for name in ("valid", "invalid", "hard")}
    write_history(paths["valid"], VALID)
    write_history(paths["invalid"], INVALID)
    write_history(paths["hard"], pathological())
    paths["bad"] = tmp_path / "bad.jsonl"
    paths["bad"].write_text('{"process": 0, "type": "invoke", "f": "read"}\n{"process": 0,\n')
    paths["edn"] = tmp_path / "h.edn"
    paths["edn"].write_text(
        "{:process 0 :type :invoke :f :add :value 1}\n{:process 0 :type :ok :f :add :value 1}\n"
    )
    return paths


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labkit.history", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_exit_statuses_through_python_m(files: dict[str, Path]) -> None:
    valid = cli("check", files["valid"])
    assert (valid.returncode, valid.stderr) == (0, "")
    assert valid.stdout.startswith(f"VALID: {files['valid']} is linearizable as a register")

    invalid = cli("check", files["invalid"], "--model", "register")
    assert invalid.returncode == 1
    assert "INVALID" in invalid.stdout
    assert "failing key: 'k'" in invalid.stdout
    assert (
        "p1 read on k -> nil (ok, lines 5-6): refused by the model in that state" in invalid.stdout
    )

    bad = cli("check", files["bad"])
    assert bad.returncode == 2
    assert (
        bad.stderr.strip()
        == f"check: {files['bad']}: line 2: not JSON: Expecting property name enclosed in double quotes at column 15"
    )
    assert "Traceback" not in bad.stderr

    unknown = cli("check", files["hard"], "--model", "counter", "--budget", "0.05")
    assert unknown.returncode == 3
    assert unknown.stdout.startswith("UNKNOWN: the budget ran out")


def test_bad_options_exit_2_naming_the_value(files: dict[str, Path]) -> None:
    result = cli("check", files["valid"], "--model", "queue")
    assert result.returncode == 2
    assert "argument --model: invalid choice: 'queue'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--budget", "soon"], "argument --budget: 'soon' is not a number of seconds"),
        (["--budget", "0"], "argument --budget: '0' is not a positive number of seconds"),
        (["--budget", "nan"], "'nan' is not a positive number of seconds"),
        (["--format", "xml"], "argument --format: invalid choice: 'xml'"),
        (["--model", "queue"], "argument --model: invalid choice: 'queue'"),
    ],
)
def test_bad_options_in_process(
    files: dict[str, Path], args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["check", str(files["valid"]), *args])
    assert caught.value.code == 2
    assert message in capsys.readouterr().err


def test_unreadable_inputs_exit_2(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(tmp_path / "missing.jsonl")]) == 2
    assert "No such file or directory" in capsys.readouterr().err
    assert main(["check", str(files["edn"]), "--format", "jsonl"]) == 2
    assert "line 1: not JSON" in capsys.readouterr().err
    assert main(["check", str(files["valid"]), "--model", "set"]) == 2
    assert "line 1: model set has no operation 'write'" in capsys.readouterr().err


def test_json_output(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(files["invalid"]), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] == "invalid"
    assert out["failing_key"] == "k"
    assert out["stats"]["ops"] == 3
    violation = out["violation"]
    assert [op["f"] for op in violation["prefix"]] == ["write", "read"]
    assert violation["next"][0]["op"]["call_line"] == 5
    assert violation["next"][0]["accepted"] is False
    assert len(out["stale_reads"]["stale"]) == 1


def test_edn_sets_and_lost_writes(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(files["edn"]), "--model", "set"]) == 0
    out = capsys.readouterr().out
    assert "acknowledged writes: 0, lost: 0" in out


def test_register_adds_the_check_subcommand(files: dict[str, Path]) -> None:
    parser = argparse.ArgumentParser(prog="redis-lab")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["check", str(files["valid"]), "--model", "register", "--budget", "5"])
    assert args.budget == 5.0
    assert args.func(args) == 0
