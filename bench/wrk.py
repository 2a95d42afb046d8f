"""Running wrk (bounded: every run has a duration and a hard timeout) and reading its summary line."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPORT_LUA = HERE / "report.lua"
SUBMIT_LUA = HERE / "submit.lua"


@dataclass
class WrkResult:
    requests: int
    duration_us: int
    p50_us: int
    p90_us: int
    p99_us: int
    max_us: int
    mean_us: float
    errors: dict[str, int]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / (self.duration_us / 1e6) if self.duration_us else 0.0

    @property
    def error_total(self) -> int:
        return sum(self.errors.values())

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rps": round(self.rps, 1)}


def find_wrk() -> str:
    path = shutil.which("wrk")
    if not path:
        raise SystemExit("wrk not found: apt-get install -y wrk")
    return path


def run(
    url: str,
    *,
    duration: float,
    threads: int,
    connections: int,
    headers: dict[str, str] | None = None,
    script: Path = REPORT_LUA,
    script_args: list[str] | None = None,
    timeout_s: float = 10.0,
) -> WrkResult:
    cmd = [
        find_wrk(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        f"--timeout={timeout_s:g}s",
        "-s",
        str(script),
    ]
    for k, v in (headers or {}).items():
        cmd += ["-H", f"{k}: {v}"]
    cmd.append(url)
    if script_args:
        cmd += ["--", *script_args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, check=False)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stdout[-2000:]} {proc.stderr[-2000:]}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    errors = {k: data.pop(k) for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")}
    base = {k: data.pop(k) for k in ("requests", "duration_us", "p50_us", "p90_us", "p99_us", "max_us", "mean_us")}
    data.pop("bytes", None)
    return WrkResult(**base, errors=errors, extra=data)
