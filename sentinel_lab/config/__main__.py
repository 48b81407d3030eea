"""``python -m sentinel_lab.config check FILE``: parse a sentinel.conf and summarise it.

Exit status 0 when the file loads, 2 when it does not (the error is printed as Redis
prints it, with the file named).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sentinel_lab.config.errors import SentinelConfigError
from sentinel_lab.config.model import LoadedConfig
from sentinel_lab.config.parser import load_config

__all__ = ["main", "summary"]


def summary(loaded: LoadedConfig) -> str:
    """A short human summary of a loaded config."""
    config = loaded.config
    server = config.server
    bind = " ".join(server.bind) or '""'
    lines = [
        f"{loaded.path}: OK",
        f"  port {server.port}, bind {bind}, dir {server.dir or '(cwd)'}",
        f"  myid {config.myid or '(none: picked and written at first start)'}",
        f"  current-epoch {config.current_epoch}",
    ]
    for master in config.masters:
        lines.append(
            f"  master {master.name} {master.host}:{master.port} quorum {master.quorum} "
            f"down-after {master.down_after_ms}ms failover-timeout {master.failover_timeout_ms}ms "
            f"config-epoch {master.config_epoch} leader-epoch {master.leader_epoch} "
            f"replicas {len(master.known_replicas)} sentinels {len(master.known_sentinels)}"
        )
    for item in loaded.ignored:
        lines.append(f"  ignored: line {item.line_no} {item.directive}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sentinel_lab.config")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="parse a sentinel.conf and print a summary")
    check.add_argument("file")
    check.add_argument(
        "--no-file-checks",
        action="store_true",
        help="skip the checks on dir and scripts that Redis makes on the file system",
    )
    args = parser.parse_args(argv)
    try:
        loaded = load_config(args.file, check_files=not args.no_file_checks)
    except SentinelConfigError as exc:
        print(exc.redis_report(), file=sys.stderr)
        return 2
    print(summary(loaded))
    return 0


if __name__ == "__main__":
    sys.exit(main())
