"""Profiling the uvicorn workers under wrk load with py-spy, and boiling the samples down to the top costs.

py-spy is not a project dependency; install it where you like (``pip install py-spy``, or
``pip install --target /tmp/bench-tools py-spy`` and pass ``--py-spy /tmp/bench-tools/bin/py-spy``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")

# Where a frame's time goes, by the file it is in (first match wins).
_BUCKETS = (
    ("sqlalchemy", "/sqlalchemy/"),
    ("asyncpg", "/asyncpg/"),
    ("pydantic", "/pydantic"),
    ("fastapi", "/fastapi/"),
    ("starlette", "/starlette/"),
    ("uvicorn", "/uvicorn/"),
    ("anyio", "/anyio/"),
    ("thread pool hand-off (threading, queue)", "/threading.py"),
    ("thread pool hand-off (threading, queue)", "/queue.py"),
    ("json", "/json/"),
    ("jwt", "/jwt/"),
    ("cryptography", "/cryptography/"),
    ("case_core", "/case_core/"),
    ("mobile_api", "/mobile_api/"),
    ("bench", "/bench/"),
    ("asyncio / uvloop", "/asyncio/"),
    ("asyncio / uvloop", "uvloop"),
    ("contextlib", "/contextlib.py"),
)


def find(explicit: str | None = None) -> str | None:
    return explicit or shutil.which("py-spy")


def record(py_spy: str, pid: int, seconds: int, out: Path, rate: int = 200) -> subprocess.Popen[bytes]:
    """Sample only the thread holding the GIL (``--gil``): where the Python CPU time goes, which is what limits
    the throughput here; threads waiting (thread pool, event loop in epoll) are left out."""
    cmd = [py_spy, "record", "-p", str(pid), "-d", str(seconds), "-r", str(rate), "-f", "raw", "-o", str(out)]
    return subprocess.Popen([*cmd, "--nonblocking", "--gil"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _parse(frame: str) -> tuple[str, str]:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip(), ""
    return m["func"], m["file"]


def _short(func: str, file: str) -> str:
    for marker in ("site-packages/", "lib/python3.11/", "/work/main/"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{func} ({file})"


def bucket(file: str) -> str:
    path = "/" + file  # py-spy prints paths relative to sys.path ("sqlalchemy/orm/session.py")
    for name, needle in _BUCKETS:
        if needle in path:
            return name
    return "other (stdlib, C)"


# Cost centres: the share of samples whose stack contains a matching frame (each centre counted on its own, so
# they overlap where one contains another: SQL execution contains cache keys and JSON decoding, for example).
_CENTRES: tuple[tuple[str, Callable[[str, str], bool]], ...] = (
    ("FastAPI dependency solving (incl. thread-pool hand-off and the session's enter)",
     lambda f, p: f == "solve_dependencies"),
    ("worker threads of the thread pool (plain `def` dependencies / endpoints)",
     lambda f, p: f == "WorkerThread.run"),
    ("SQL through async SQLAlchemy (AsyncSession.execute/get/scalar/flush/commit)",
     lambda f, p: f.startswith("AsyncSession.") and f.split(".")[1] in
     ("execute", "get", "scalar", "scalars", "flush", "commit", "rollback", "close")),
    ("  of which: statement cache keys", lambda f, p: f.endswith("_generate_cache_key")),
    ("  of which: JSONB decoding with json.loads", lambda f, p: "_jsonb_decoder" in f or "_json_decoder" in f),
    ("  of which: pool checkout pre-ping", lambda f, p: "do_ping" in f or f.endswith("_async_ping")),
    ("  of which: transaction end (commit / rollback)",
     lambda f, p: f in ("AsyncSession.commit", "AsyncSession.rollback", "Session.commit", "Session.rollback")),
    ("new database connections (connect, TLS attempt, auth, dialect setup)",
     lambda f, p: p.endswith("asyncpg/connect_utils.py") or f.endswith("__connect")),
    ("raw asyncpg pool (acquire, query, release)",
     lambda f, p: f.startswith("Pool.") and p.endswith("asyncpg/pool.py")),
    ("JWT verification (PyJWT)", lambda f, p: f == "TokenService.decode"),
    ("field decryption (SM4)", lambda f, p: f == "FieldCipher.decrypt"),
    ("shaping the answer (case_core.queries: case_detail, _list_row, _event_out)",
     lambda f, p: p.endswith("case_core/queries.py") and f in ("case_detail", "_list_row", "_event_out")),
    ("serialising the answer (orjson response)", lambda f, p: f == "json_response"),
    ("the endpoint function (everything after dependencies)", lambda f, p: f == "run_endpoint_function"),
    ("HTTP (uvicorn + starlette/fastapi routing, middleware)", lambda f, p: f == "RequestResponseCycle.run_asgi"),
)  # fmt: skip


def summarize(paths: list[Path], top: int = 25) -> dict[str, Any]:
    """Self time per function, inclusive time per function, self time per library, all as % of samples."""
    self_time: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    buckets: Counter[str] = Counter()
    centres: Counter[str] = Counter()
    total = 0
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            stack, _, count_s = line.rpartition(" ")
            if not stack or not count_s.isdigit():
                continue
            n = int(count_s)
            frames = [_parse(f) for f in stack.split(";")]
            frames = [f for f in frames if not f[0].startswith("process ") and not f[0].startswith("thread ")]
            if not frames:
                continue
            total += n
            leaf = frames[-1]
            self_time[_short(*leaf)] += n
            buckets[bucket(leaf[1])] += n
            for name in {_short(*f) for f in frames}:
                incl[name] += n
            for label, match in _CENTRES:
                if any(match(func, "/" + file) for func, file in frames):
                    centres[label] += n

    def pct(c: Counter[str], k: int) -> list[list[Any]]:
        return [[name, round(100 * n / total, 1)] for name, n in c.most_common(k)] if total else []

    return {
        "samples": total,
        "self": pct(self_time, top),
        "inclusive": pct(incl, 400),
        "by_library": pct(buckets, 20),
        "centres": [[label, round(100 * centres[label] / total, 1) if total else 0.0] for label, _ in _CENTRES],
    }


def markdown(summary: dict[str, Any], top: int = 12) -> str:
    lines = [f"{summary['samples']} samples. Cost centres (share of samples whose stack passes through them):", ""]
    lines += [f"- {p}% {label}" for label, p in summary.get("centres", []) if p >= 0.5 or label.startswith("  ")]
    lines += ["", "Self time by library (leaf frame): " + ", ".join(f"{n} {p}%" for n, p in summary["by_library"])]
    lines += ["", "Top self time:", ""]
    lines += [f"- {p}% {name}" for name, p in summary["self"][:top]]
    return "\n".join(lines)
