"""CPU and memory of processes, sampled from ``/proc`` every second (Linux).

A group is one or more root processes with their descendants (nginx: the master
and its workers, found through ``/proc/<pid>/task/*/children``), a single process
(the load generator, whose children are the services), or every process of a
name (the PostgreSQL and RabbitMQ servers: shared, so whatever else uses them
during the run is counted too).
CPU is ``utime + stime`` over wall time, in % of **one** core (so up to
``nproc`` x 100 %); memory is the group's summed ``VmRSS``, at its peak. The
whole machine's busy share (``/proc/stat``) is given too, in % of **all** cores,
since PostgreSQL and RabbitMQ share the machine but are not in any group.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import sqlstats
from .profile import Profiler

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


def cpu_ticks(pid: int) -> int | None:
    """utime + stime of a process, in clock ticks (None if it is gone)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the command name may hold spaces
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)


def rss_kb(pid: int) -> int:
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in (PROC / str(pid) / "task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo += children(current)
    return out


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all cores since boot."""
    values = [int(v) for v in (PROC / "stat").read_text().splitlines()[0].split()[1:]]
    total = sum(values[:8])  # guest time is already counted in user
    idle = values[3] + values[4]  # idle + iowait
    return total - idle, total


def processes_named(*names: str) -> list[int]:
    """Every process whose command name (``/proc/<pid>/comm``) is one of ``names``."""
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in names:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@dataclass
class ProcessGroup:
    """Processes found anew at every sample by ``find`` (workers come and go)."""

    name: str
    find: Callable[[], list[int]]
    ticks: dict[int, int] = field(default_factory=dict)
    used_ticks: int = 0
    peak_rss_kb: int = 0
    max_processes: int = 0

    @classmethod
    def tree(cls, name: str, roots: list[int]) -> ProcessGroup:
        """``roots`` and all their descendants."""
        return cls(name, lambda: [p for root in roots for p in descendants(root)])

    @classmethod
    def single(cls, name: str, pid: int) -> ProcessGroup:
        return cls(name, lambda: [pid])

    @classmethod
    def named(cls, name: str, *comms: str) -> ProcessGroup:
        return cls(name, lambda: processes_named(*comms))

    def sample(self) -> None:
        """Add the CPU used since the last sample by processes seen both times."""
        now: dict[int, int] = {}
        rss = 0
        for pid in self.find():
            ticks = cpu_ticks(pid)
            if ticks is not None:
                now[pid] = ticks
                rss += rss_kb(pid)
        self.used_ticks += sum(max(0, t - self.ticks[p]) for p, t in now.items()
                               if p in self.ticks)
        self.ticks = now
        self.peak_rss_kb = max(self.peak_rss_kb, rss)
        self.max_processes = max(self.max_processes, len(now))


class ResourceSampler:
    """Sample ``groups`` every ``interval`` seconds in a thread, between start and stop."""

    def __init__(self, groups: list[ProcessGroup], interval: float = 1.0,
                 profiler: Profiler | None = None,
                 service_urls: dict[str, str] | None = None) -> None:
        self.groups = groups
        self.interval = interval
        #: py-spy on the services over the same window (``--profile``)
        self.profiler = profiler
        self.profiles: dict[str, Any] = {}
        #: the services' statement counters are read at start and stop
        self.service_urls = service_urls or {}
        self.statements: tuple[dict[str, Any], dict[str, Any]] = ({}, {})
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="resources", daemon=True)
        self._started = self._stopped = 0.0
        self._machine_start = self._machine_end = (0, 0)
        self.samples = 0

    def _sample(self) -> None:
        for group in self.groups:
            group.sample()
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def start(self) -> None:
        self._started = time.monotonic()
        self._machine_start = machine_ticks()
        self._sample()
        self._thread.start()
        self.statements = (sqlstats.read(self.service_urls), {})
        if self.profiler is not None:
            self.profiler.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self._stopped = time.monotonic()
        self._machine_end = machine_ticks()
        self.statements = (self.statements[0], sqlstats.read(self.service_urls))
        if self.profiler is not None:
            self.profiles = self.profiler.stop()

    def summary(self) -> dict[str, Any]:
        seconds = max(1e-9, self._stopped - self._started)
        busy = self._machine_end[0] - self._machine_start[0]
        total = max(1, self._machine_end[1] - self._machine_start[1])
        cores = os.cpu_count() or 1
        groups = {g.name: {
            "cpu_percent_of_one_core": round(100 * g.used_ticks / CLOCK_TICKS / seconds, 1),
            "rss_mb_peak": round(g.peak_rss_kb / 1024, 1),
            "processes": g.max_processes,
        } for g in self.groups}
        ours = sum(g["cpu_percent_of_one_core"] for g in groups.values())
        return {
            "seconds": round(seconds, 1),
            "samples": self.samples,
            "machine": {
                "cores": cores,
                "cpu_busy_percent_of_all_cores": round(100 * busy / total, 1),
                # what the machine did besides the processes above (other test runs...)
                "other_cpu_percent_of_one_core": round(
                    max(0.0, 100 * cores * busy / total - ours), 1),
            },
            "processes": groups,
            **({"profiles": self.profiles} if self.profiles else {}),
        }


def machine_busy_percent(seconds: float = 1.0) -> float:
    """How busy the machine is right now, in % of all cores (before a run)."""
    busy0, total0 = machine_ticks()
    time.sleep(seconds)
    busy1, total1 = machine_ticks()
    return round(100 * (busy1 - busy0) / max(1, total1 - total0), 1)
