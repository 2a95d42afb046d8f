"""``python -m bench.bot_turn``: latency of one bot turn over Rasa's REST channel, on a real uvicorn server.

A temporary data directory with the embedded SQLite database (or ``--database-url``), migrated and loaded with
the demo (catalogue, KB seed); ``uvicorn mobile_api.main:app`` with one worker; then, one request at a time
over HTTP: GET /healthz (baseline: the bare framework), POST /model/parse (NLU only), and POST
/webhooks/rest/webhook with a mix of greetings, KB questions (bench/kb_eval.yaml) and item questions, five turns
per conversation. p50/p95 of each, and the turn as a ratio to the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.kb import eval_set
from bench.server import HOST, free_port

ROOT = Path(__file__).resolve().parent.parent
MIX = ["你好", "护士注册要带什么材料", "办好要多久", "要交钱吗", "谢谢"]


def pct(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    return {
        "n": len(s),
        "p50_ms": round(statistics.median(s) * 1000, 2),
        "p95_ms": round(s[int(len(s) * 0.95) - 1] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=400)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="weijian-bot-bench-"))
    env = {
        **os.environ,
        "WEIJIAN_DATA_DIR": str(data_dir),
        "WEIJIAN_SECRET_KEY": "bench-secret",
        "WEIJIAN_DEMO_PASSWORD": "bench-Passw0rd",
        "WEIJIAN_BOT_MESSAGES_PER_MINUTE": "1000000",
    }
    if args.database_url:
        env["WEIJIAN_DATABASE_URL"] = args.database_url
    subprocess.run(
        [sys.executable, "-m", "mobile_api.cli", "demo"], env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL
    )
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "mobile_api.main:app",
            "--host",
            HOST,
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    url = f"http://{HOST}:{port}"
    try:
        with httpx.Client(base_url=url, timeout=30) as c:
            for _ in range(600):
                try:
                    if c.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            questions = [x["q"] for x in eval_set()]
            texts = [MIX[i % 5] if i % 3 else questions[i % len(questions)] for i in range(args.turns)]
            for i in range(30):  # warm-up
                c.post("/webhooks/rest/webhook", json={"sender": f"warm{i // 5}", "message": texts[i]})
            base, parse, turn = [], [], []
            for i, text in enumerate(texts):
                t = time.perf_counter()
                c.get("/healthz")
                base.append(time.perf_counter() - t)
                t = time.perf_counter()
                c.post("/model/parse", json={"text": text})
                parse.append(time.perf_counter() - t)
                t = time.perf_counter()
                r = c.post("/webhooks/rest/webhook", json={"sender": f"s{i // 5}", "message": text})
                turn.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text
    finally:
        server.terminate()
        server.wait(10)
    result = {
        "database": "postgresql" if args.database_url else "sqlite",
        "healthz": pct(base),
        "model_parse": pct(parse),
        "rest_turn": pct(turn),
    }
    result["rest_turn_p95_over_healthz_p95"] = round(result["rest_turn"]["p95_ms"] / result["healthz"]["p95_ms"], 1)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for name in ("healthz", "model_parse", "rest_turn"):
        print(f"{name:<12} p50 {result[name]['p50_ms']} ms  p95 {result[name]['p95_ms']} ms  (n={result[name]['n']})")


if __name__ == "__main__":
    main()
