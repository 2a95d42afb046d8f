"""Starting and stopping ``uvicorn bench.app:app`` (2 workers, loopback only), always cleaned up."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def uvicorn_flags() -> list[str]:
    flags = []
    if importlib.util.find_spec("uvloop"):
        flags += ["--loop", "uvloop"]
    if importlib.util.find_spec("httptools"):
        flags += ["--http", "httptools"]
    return flags


class Server:
    """``with Server(env, workers=2) as s: ...`` — the uvicorn master runs in its own process group, which is
    signalled (TERM, then KILL after a grace period) on exit, so no worker outlives the benchmark."""

    def __init__(
        self, env: dict[str, str], *, workers: int = 2, port: int | None = None, log_path: Path | None = None
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://{HOST}:{self.port}"
        # --timeout-keep-alive: above the quiet tail of the submit runs (see submit.lua), during which wrk's
        # connections sit idle; uvicorn's default (5 s) would close them and wrk would reconnect and send more.
        self.cmd = [sys.executable, "-m", "uvicorn", "bench.app:app", "--host", HOST, "--port", str(self.port),
                    "--workers", str(workers), "--no-access-log", "--log-level", "warning",
                    "--timeout-keep-alive", "30", *uvicorn_flags()]  # fmt: skip
        self.env = env  # the workers' whole environment (their settings come from WEIJIAN_* variables)
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def __enter__(self) -> Server:
        self._log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            self.cmd, cwd=ROOT, env=self.env, stdout=self._log, stderr=self._log, start_new_session=True
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float = 60.0) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        ready = 0
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {self.proc.returncode}; see {self.log_path}")
            try:
                # Both workers must have finished their lifespan startup: ask a few times in a row.
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    ready += 1
                    if ready >= 10:
                        return
                    continue
            except httpx.HTTPError:
                pass
            ready = 0
            time.sleep(0.2)
        raise RuntimeError(f"uvicorn not ready after {timeout:.0f}s; see {self.log_path}")

    def worker_pids(self) -> list[int]:
        """The worker processes (children of the uvicorn master), e.g. for py-spy."""
        if self.proc is None:
            return []
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True, check=False
        ).stdout
        pids = []
        for p in out.split():
            try:
                cmdline = Path(f"/proc/{p}/cmdline").read_bytes()
            except OSError:
                continue
            if b"resource_tracker" not in cmdline:  # multiprocessing's helper, not a worker
                pids.append(int(p))
        return pids

    def stop(self) -> None:
        if self.proc is None:
            return
        pgid = self.proc.pid  # start_new_session: the master leads its own group
        if self.proc.poll() is None:
            os.killpg(pgid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):  # anything left in the group (a stuck worker): kill it
            os.killpg(pgid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.wait(timeout=5)
        self.proc = None
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()

    def __exit__(self, *exc: object) -> None:
        self.stop()
