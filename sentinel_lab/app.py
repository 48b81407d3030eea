"""Starting and stopping a sentinel_lab process: ``python -m sentinel_lab sentinel.conf``.

As ``redis-sentinel`` does at start: read the config (a bad file stops with Redis's
``FATAL CONFIG FILE ERROR`` block on stderr and exit status 2), change to ``dir``, pick a
``myid`` if the file has none and rewrite the file, check that it can be rewritten,
then listen. SIGTERM and SIGINT stop it gracefully: the config is flushed one last time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from labkit.resp.server import ServerConfig
from sentinel_lab import config as conf
from sentinel_lab.convert import announce_address, to_state
from sentinel_lab.core import SentinelCore
from sentinel_lab.driver import SentinelDriver
from sentinel_lab.errors import SentinelLabError
from sentinel_lab.events_out import EventOutput
from sentinel_lab.server import SentinelServer

__all__ = ["add_arguments", "main", "run_from_args"]

VERSION = "7.0.15"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command line of ``python -m sentinel_lab`` and ``redis-lab sentinel``."""
    parser.add_argument("config", help="the sentinel.conf to read (and rewrite, as Redis does)")
    parser.add_argument("--port", type=int, default=None, help="listen here instead of `port`")
    parser.add_argument(
        "--bind", default=None, help="listen on this address instead of `bind` (first only)"
    )
    parser.add_argument(
        "--log-json",
        default=None,
        metavar="FILE",
        help="JSON-lines event stream (default: <logfile>.jsonl when a logfile is set)",
    )
    parser.add_argument(
        "--early-switch",
        action="store_true",
        help="not Redis: show clients the promoted replica as soon as its promotion is "
        "confirmed (also SENTINEL CONFIG SET lab-early-switch yes); never written to the file",
    )


def _fatal(message: str) -> int:
    print(message, file=sys.stderr)
    return 1


def run_from_args(args: argparse.Namespace) -> int:
    """Load the config and run until stopped; the exit status."""
    try:
        loaded = conf.load_config(args.config)
    except conf.SentinelConfigError as exc:
        print(f"\n{exc.redis_report()}", file=sys.stderr)
        return 2
    config = loaded.config
    server = config.server
    if args.port is not None:
        server = replace(server, port=args.port)
    if args.bind is not None:
        server = replace(server, bind=(args.bind,))
    config = replace(config, server=server)
    config_path = Path(args.config).resolve()
    if server.dir:
        os.chdir(server.dir)
    if server.port == 0 or not server.bind:
        return _fatal("Configured to not listen anywhere, exiting.")
    config, picked = conf.ensure_myid(config)
    try:
        if picked:
            conf.rewrite_config(config_path, config)
        elif not os.access(config_path, os.W_OK):
            return _fatal(f"Sentinel config file {config_path} is not writable. Exiting...")
    except conf.SentinelConfigError as exc:
        return _fatal(f"Sentinel config file {config_path} is not writable: {exc}. Exiting...")
    host = server.bind[0]
    announce_ip = announce_address(config, host, server.port)
    announce_port = server.announce_port or server.port
    json_path = args.log_json or (f"{server.logfile}.jsonl" if server.logfile else None)
    out = EventOutput(
        logfile=server.logfile,
        json_path=json_path,
        loglevel=server.loglevel,
        source=f"{announce_ip}:{server.port}",
    )
    try:
        return _start(
            loaded,
            config,
            config_path,
            out,
            (host, announce_ip, announce_port),
            picked=picked,
            early_switch=bool(getattr(args, "early_switch", False)),
        )
    finally:
        out.close()


def _start(
    loaded: conf.LoadedConfig,
    config: conf.SentinelConfig,
    config_path: Path,
    out: EventOutput,
    address: tuple[str, str, int],
    *,
    picked: bool,
    early_switch: bool,
) -> int:
    host, announce_ip, announce_port = address
    server = config.server
    out.log("#", "oO0OoO0OoO0Oo sentinel_lab is starting oO0OoO0OoO0Oo")
    out.log("#", f"sentinel_lab (Redis {VERSION} rules), pid={os.getpid()}, just started")
    out.log("#", "Configuration loaded")
    for item in loaded.ignored:
        out.log("*", f"Ignoring '{item.directive}' at line {item.line_no} of {item.path}: not used")
    for master in config.masters:
        unsupported = [
            option
            for option, used in (
                ("rename-command", bool(master.renamed_commands)),
                ("master-reboot-down-after-period", master.master_reboot_down_after_period_ms > 0),
            )
            if used
        ]
        for option in unsupported:
            out.log(
                "#",
                f"WARNING: sentinel {option} for master {master.name} is kept in the config "
                "but not acted on: sentinel_lab does not support it yet",
            )
    if len(server.bind) > 1:
        out.log("#", f"Listening on {host} only; other bind addresses are ignored")
    rng = random.Random()
    try:
        core = SentinelCore.from_state(
            to_state(config, announce_ip, announce_port), rng, source=out.source
        )
    except SentinelLabError as exc:
        out.log("#", f"Fatal: {exc}")
        return _fatal(f"sentinel_lab: {exc}")
    core.early_switch = early_switch
    if early_switch:
        out.log("#", "Early switch on (not Redis): clients see the promoted replica at once")
    driver = SentinelDriver(core, config, config_path, out, rng=rng)
    resp = SentinelServer(
        ServerConfig(
            host=host,
            port=server.port,
            requirepass=server.requirepass,
            mode="sentinel",
            role=None,
        ),
        driver,
        config_file=str(config_path),
        renamed=server.renamed_commands,
    )
    return asyncio.run(_serve(driver, resp, out, host, server.port, picked))


async def _serve(
    driver: SentinelDriver,
    resp: SentinelServer,
    out: EventOutput,
    host: str,
    port: int,
    picked: bool,
) -> int:
    try:
        await resp.start()
    except OSError as exc:
        message = f"Could not create server TCP listening socket {host}:{port}: {exc.strerror}"
        out.log("#", message)
        return _fatal(message)
    out.log("*", f"Running mode=sentinel, port={port}.")
    if picked:
        out.log("*", "Sentinel new configuration saved on disk")
    out.log("#", f"Sentinel ID is {driver.myid}")
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):

        def on_signal(name: str = signal.Signals(signum).name) -> None:
            out.log("#", f"Received {name} scheduling shutdown...")
            driver.stop()

        loop.add_signal_handler(signum, on_signal)
    try:
        await driver.run()
    finally:
        out.log("#", "User requested shutdown...")
        await resp.close()
        await driver.close()
        out.log("#", "Sentinel is now ready to exit, bye bye...")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sentinel_lab``."""
    parser = argparse.ArgumentParser(
        prog="python -m sentinel_lab",
        description="A Redis Sentinel clone: reads sentinel.conf and speaks the Sentinel protocol.",
    )
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))
