"""Who owns which namespaces, veths, bridges and chains; removing those of dead runs.

A run writes ``/run/redis-lab/netns/<run id>.json`` (owner pid and its start time, tag,
subnet, every name) *before* it creates anything, and deletes it last. The kernel side
is marked too (names carry the run id or its tag; the bridge and veths carry an alias
with the owner pid), so :func:`find_leftovers` also finds what a run left when its record
is gone. ``redis-lab cleanup`` calls :func:`remove_leftovers`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from labkit.faults import netns_names as names
from labkit.faults.netns_cmd import NetnsError, Tools, find_tools, run_tool, which

__all__ = [
    "REGISTRY_DIR",
    "NetnsLeftovers",
    "RunRecord",
    "find_leftovers",
    "owner_alive",
    "process_start_time",
    "remove_leftovers",
    "teardown",
]

REGISTRY_DIR = Path("/run/redis-lab/netns")
_SYS_NET = Path("/sys/class/net")


@dataclass(slots=True)
class RunRecord:
    """What one run created (or is about to create); saved as JSON."""

    run_id: str
    owner_pid: int
    owner_start: int | None
    tag: str
    subnet: str
    bridge: str
    chains: list[str]
    namespaces: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)

    def save(self, directory: Path = REGISTRY_DIR) -> None:
        """Write atomically (temporary file, then rename)."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.run_id}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> RunRecord:
        data = json.loads(path.read_text())
        return cls(**data)


def read_records(directory: Path = REGISTRY_DIR) -> list[RunRecord]:
    """Every readable record; unreadable ones are skipped (their kernel markers remain)."""
    records = []
    with contextlib.suppress(FileNotFoundError):
        for path in sorted(directory.glob("*.json")):
            with contextlib.suppress(OSError, ValueError, TypeError):
                records.append(RunRecord.load(path))
    return records


def delete_record(run_id: str, directory: Path = REGISTRY_DIR) -> None:
    (directory / f"{run_id}.json").unlink(missing_ok=True)


@contextlib.contextmanager
def registry_lock(directory: Path = REGISTRY_DIR) -> Iterator[None]:
    """An exclusive lock over the registry, held while choosing names and subnets."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def process_start_time(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot (field 22 of ``/proc/<pid>/stat``)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return int(fields[19]) if len(fields) > 19 and fields[19].isdigit() else None


def owner_alive(pid: int, start: int | None = None) -> bool:
    """Whether ``pid`` runs and, when ``start`` is known, is still the same process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if start is None:
        return True
    now = process_start_time(pid)
    return now is None or now == start


@dataclass(frozen=True, slots=True)
class NetnsLeftovers:
    """Namespaces, interfaces, chains and records of runs, by kind."""

    runs: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    chains: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.runs or self.namespaces or self.links or self.chains)

    def describe(self) -> str:
        parts = [
            f"{what}: {', '.join(items)}"
            for what, items in (
                ("runs", self.runs),
                ("namespaces", self.namespaces),
                ("interfaces", self.links),
                ("iptables chains", self.chains),
            )
            if items
        ]
        return "; ".join(parts) or "nothing"


@dataclass(slots=True)
class _Found:
    owner_pid: int | None = None
    owner_start: int | None = None
    namespaces: set[str] = field(default_factory=set)
    links: set[str] = field(default_factory=set)
    chains: set[str] = field(default_factory=set)
    recorded: bool = False


def _existing_links() -> dict[str, str]:
    """Interface name -> alias for every interface of the root namespace."""
    links = {}
    with contextlib.suppress(FileNotFoundError):
        for entry in _SYS_NET.iterdir():
            try:
                alias = (entry / "ifalias").read_text().strip()
            except OSError:
                alias = ""
            links[entry.name] = alias
    return links


def _scan(tools: Tools, directory: Path) -> dict[str, _Found]:
    """Every run that has something on this machine, by run id."""
    runs: dict[str, _Found] = {}
    records = read_records(directory)
    by_tag = {record.tag: record.run_id for record in records}
    for record in records:
        found = runs.setdefault(record.run_id, _Found())
        found.owner_pid, found.owner_start, found.recorded = (
            record.owner_pid,
            record.owner_start,
            True,
        )
    netns = run_tool([tools.ip, "netns", "list"], check=False).stdout
    for ns in names.parse_netns_list(netns):
        parsed = names.parse_netns_name(ns)
        if parsed is not None:
            runs.setdefault(parsed[0], _Found()).namespaces.add(ns)
    for link, alias in _existing_links().items():
        parsed_link = names.parse_link(link)
        if parsed_link is None:
            continue
        owner = names.parse_alias(alias)
        run_id = by_tag.get(parsed_link.tag) or (owner[0] if owner else f"?{parsed_link.tag}")
        found = runs.setdefault(run_id, _Found())
        found.links.add(link)
        if owner is not None and found.owner_pid is None:
            found.owner_pid = owner[1]
    listing = run_tool([tools.iptables, "-w", "5", "-S"], check=False).stdout
    for line in listing.splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == "-N":
            run_id = names.parse_chain(words[1]) or ""
            if run_id:
                runs.setdefault(run_id, _Found()).chains.add(words[1])
    for run_id, found in runs.items():
        if found.owner_pid is None and not run_id.startswith("?"):
            found.owner_pid = names.run_owner_pid(run_id)
    return runs


def _is_live(found: _Found) -> bool:
    if found.owner_pid is None:  # an interface of ours with neither record nor alias
        return False
    return owner_alive(found.owner_pid, found.owner_start)


def _select(
    tools: Tools, run_id: str | None, include_live_owners: bool, directory: Path
) -> dict[str, _Found]:
    return {
        rid: found
        for rid, found in _scan(tools, directory).items()
        if (run_id is None or rid == run_id) and (include_live_owners or not _is_live(found))
    }


def _summary(runs: dict[str, _Found]) -> NetnsLeftovers:
    return NetnsLeftovers(
        runs=tuple(sorted(runs)),
        namespaces=tuple(sorted(ns for f in runs.values() for ns in f.namespaces)),
        links=tuple(sorted(link for f in runs.values() for link in f.links)),
        chains=tuple(sorted(chain for f in runs.values() for chain in f.chains)),
    )


def _cleanup_tools(directory: Path) -> Tools | None:
    """The tools, or None when nothing of ours can exist here; raises when root is needed."""
    try:
        return find_tools()
    except NetnsError as exc:
        ip = which("ip")
        listing = run_tool([ip, "netns", "list"], check=False).stdout if ip else ""
        ours = [ns for ns in names.parse_netns_list(listing) if names.parse_netns_name(ns)]
        if read_records(directory) or ours:
            raise NetnsError(f"namespace-lab leftovers exist here, but {exc}") from exc
        return None


def find_leftovers(
    run_id: str | None = None,
    *,
    include_live_owners: bool = False,
    directory: Path = REGISTRY_DIR,
) -> NetnsLeftovers:
    """What runs whose owner is gone (or, with ``include_live_owners``, any run) left here.

    Without root or without ``ip``/``iptables`` nothing can have been created: empty.
    """
    tools = _cleanup_tools(directory)
    if tools is None:
        return NetnsLeftovers()
    chosen = _select(tools, run_id, include_live_owners, directory)
    return _summary(chosen)


def remove_leftovers(
    run_id: str | None = None,
    *,
    include_live_owners: bool = False,
    directory: Path = REGISTRY_DIR,
) -> NetnsLeftovers:
    """Remove the namespaces, veths, bridges, chains and records of dead runs; return them.

    Processes still inside those namespaces are killed first. A run whose owner pid is
    alive (and is the same process: its start time is checked) is kept unless
    ``include_live_owners``. Raises :class:`NetnsError` if something could not be removed.
    """
    tools = _cleanup_tools(directory)
    if tools is None:
        return NetnsLeftovers()
    chosen = _select(tools, run_id, include_live_owners, directory)
    errors = []
    for rid, found in chosen.items():
        chains = set(found.chains)
        if not rid.startswith("?"):
            chains.update(names.chain_names(rid))
        failed = teardown(
            tools,
            namespaces=sorted(found.namespaces),
            links=sorted(found.links),
            chains=sorted(chains),
        )
        if found.recorded and not failed:  # a record stays until everything is gone
            delete_record(rid, directory)
        errors += failed
    if errors:
        raise NetnsError("could not remove every leftover: " + "; ".join(errors))
    return _summary(chosen)


def _kill_namespace_processes(tools: Tools, namespaces: list[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        pids = []
        for ns in namespaces:
            listing = run_tool([tools.ip, "netns", "pids", ns], check=False).stdout
            pids += [int(word) for word in listing.split() if word.isdigit()]
        pids = [pid for pid in pids if pid != os.getpid()]
        if not pids or time.monotonic() >= deadline:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def teardown(
    tools: Tools,
    *,
    namespaces: list[str],
    links: list[str],
    chains: list[str],
    timeout_s: float = 10.0,
) -> list[str]:
    """Remove the given resources in a safe order; return what failed (empty when all went).

    Order: processes in the namespaces, the veths and the bridge, the namespaces, the
    iptables hooks into FORWARD/INPUT, then the chains. Missing resources are fine.
    """
    errors: list[str] = []
    _kill_namespace_processes(tools, namespaces, timeout_s)
    present = set(_existing_links())
    # veths first (removing one end removes the pair), then the bridge
    for link in sorted(links, key=lambda name: name.endswith("br")):
        if link in present:
            done = run_tool([tools.ip, "link", "del", link], check=False)
            if done.returncode != 0 and link in _existing_links():
                errors.append(f"ip link del {link}: {done.stderr.strip()}")
    netns_now = set(names.parse_netns_list(run_tool([tools.ip, "netns", "list"]).stdout))
    for ns in namespaces:
        if ns in netns_now:
            done = run_tool([tools.ip, "netns", "del", ns], check=False)
            if done.returncode != 0:
                errors.append(f"ip netns del {ns}: {done.stderr.strip()}")
    if chains:
        listing = run_tool([tools.iptables, "-w", "5", "-S"], check=False).stdout
        for deletion in names.hook_deletions(listing, chains):
            done = run_tool([tools.iptables, "-w", "5", *deletion], check=False)
            if done.returncode != 0:
                errors.append(f"iptables {' '.join(deletion)}: {done.stderr.strip()}")
        existing = {line.split()[1] for line in listing.splitlines() if line.startswith("-N ")}
        for chain in chains:
            if chain in existing:
                run_tool([tools.iptables, "-w", "5", "-F", chain], check=False)
                done = run_tool([tools.iptables, "-w", "5", "-X", chain], check=False)
                if done.returncode != 0:
                    errors.append(f"iptables -X {chain}: {done.stderr.strip()}")
    deadline = time.monotonic() + timeout_s
    while set(links) & set(_existing_links()) and time.monotonic() < deadline:
        time.sleep(0.05)  # a namespace's veths go away asynchronously
    errors += [f"interface {link} is still there" for link in set(links) & set(_existing_links())]
    return errors
