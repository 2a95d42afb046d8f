"""How much of the machine went to processes that are not part of the benchmark during a run.

The machine is shared (other sessions may run the test suite at the same time), and on 2 cores a busy
neighbour moves every number. Each run records: CPU busy time of the whole machine (/proc/stat), of the
benchmark's own processes (uvicorn workers, wrk, the PostgreSQL backends serving the bench database) and the
rest, "foreign", as a fraction of the machine's capacity. A run with much foreign CPU is flagged.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _machine_busy_s() -> float:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / TICK


def _proc_cpu_s(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def bench_backends(database: str) -> list[int]:
    """PostgreSQL backends connected to the bench database (their title reads 'postgres: user db host ...')."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            title = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if title.startswith("postgres: ") and f" {database} " in title:
            pids.append(int(d.name))
    return pids


def _children_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


@dataclass
class Usage:
    wall_s: float
    machine_busy: float  # fraction of all cores
    ours: float
    foreign: float

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in self.__dict__.items()}


class Meter:
    """``m = Meter(pids_fn); m.start(); …run wrk…; usage = m.stop()``; wrk's own time comes from RUSAGE_CHILDREN."""

    def __init__(self, pids: Callable[[], list[int]]) -> None:
        self.pids = pids

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.busy0 = _machine_busy_s()
        self.children0 = _children_s()
        self.procs0 = {pid: _proc_cpu_s(pid) for pid in self.pids()}

    def stop(self) -> Usage:
        wall = time.monotonic() - self.t0
        busy = _machine_busy_s() - self.busy0
        ours = _children_s() - self.children0
        for pid in set(self.pids()) | set(self.procs0):
            ours += max(0.0, _proc_cpu_s(pid) - self.procs0.get(pid, 0.0))
        cores = os.cpu_count() or 1
        cap = wall * cores
        return Usage(wall, busy / cap, min(ours, busy) / cap, max(0.0, busy - ours) / cap)


def foreign_now(seconds: float = 1.0) -> float:
    """Busy fraction of the machine over ``seconds`` while the benchmark is idle (so it is all someone else's)."""
    t0, b0 = time.monotonic(), _machine_busy_s()
    time.sleep(seconds)
    wall, busy = time.monotonic() - t0, _machine_busy_s() - b0
    return busy / (wall * (os.cpu_count() or 1))
