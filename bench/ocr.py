"""``python -m bench.ocr``: the material check on a held-out synthetic set (fonts and layouts the tests never use).

Measures, in one run on this machine:
- accuracy: material type, field values (exact), planted defects found, false findings on clean images;
- time per image: the full check (decode, orientation, OCR, geometry, checks) against a bare RapidOCR call on
  the same bytes with the same engine instance, interleaved image by image (so machine load hits both alike);
- peak memory (max RSS) of this process with one engine loaded;
- throughput of the worker pool on this machine: 1 worker × 2 threads against 2 workers × 1 thread.

Results go to bench/results/ocr-<time>.json and as Markdown on stdout (docs/benchmarks.md, section OCR).
The held-out fonts come from Debian packages fonts-wqy-zenhei, fonts-wqy-microhei, fonts-arphic-ukai and
fonts-arphic-uming: ``--install-fonts`` installs them with apt-get when missing (root only).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from ocr.engine import RapidEngine
from ocr.evaluate import Score
from ocr.inspect import Inspector
from ocr.pool import EngineConfig, OcrPool
from ocr.registry import load
from ocr.samples import HELD_OUT_FONTS, HELD_OUT_LAYOUTS, Sample, available_fonts, make_set

RESULTS = Path(__file__).resolve().parent / "results"
FONT_PACKAGES = ("fonts-wqy-zenhei", "fonts-wqy-microhei", "fonts-arphic-ukai", "fonts-arphic-uming")


def ensure_fonts(install: bool) -> list[Path]:
    fonts = available_fonts(HELD_OUT_FONTS)
    if len(fonts) < len(HELD_OUT_FONTS) and install and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", *FONT_PACKAGES], check=True, stdout=subprocess.DEVNULL)
        fonts = available_fonts(HELD_OUT_FONTS)
    if not fonts:
        sys.exit(f"no held-out font found; install {' '.join(FONT_PACKAGES)} (or pass --install-fonts as root)")
    return fonts


def accuracy_and_speed(samples: list[Sample], threads: int) -> dict[str, Any]:
    engine = RapidEngine(threads=threads)
    inspector = Inspector(engine, load())
    score = Score()
    bare_s: list[float] = []
    full_s: list[float] = []
    for s in samples[:2]:  # warm-up: first calls allocate onnxruntime's arenas
        engine.bare(s.image)
        inspector.inspect(s.image, today=s.today)
    for s in samples:
        t = time.perf_counter()
        engine.bare(s.image)
        bare_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        result = inspector.inspect(s.image, expect=s.expect_type, form=s.form, today=s.today).as_dict()
        full_s.append(time.perf_counter() - t)
        score.add(s, result)
    upright = [i for i, s in enumerate(samples) if not s.meta.get("rotate")]
    return {
        "accuracy": score.summary(),
        "misses": score.misses,
        "median_bare_ms": round(statistics.median(bare_s) * 1000, 1),
        "median_full_ms": round(statistics.median(full_s) * 1000, 1),
        "median_ratio": round(statistics.median(f / b for f, b in zip(full_s, bare_s, strict=True)), 3),
        "median_ratio_upright": round(statistics.median(full_s[i] / bare_s[i] for i in upright), 3),
        "p90_full_ms": round(sorted(full_s)[int(0.9 * (len(full_s) - 1))] * 1000, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


async def throughput(samples: list[Sample], workers: int, threads: int) -> dict[str, Any]:
    pool = OcrPool(EngineConfig("rapidocr", threads=threads), workers=workers, timeout=300)
    try:
        await pool.warm_up()
        t = time.perf_counter()
        await asyncio.gather(*(pool.inspect(s.image, expect=s.expect_type, today=s.today) for s in samples))
        elapsed = time.perf_counter() - t
    finally:
        pool.close()
    return {
        "workers": workers,
        "threads": threads,
        "images": len(samples),
        "seconds": round(elapsed, 2),
        "images_per_second": round(len(samples) / elapsed, 3),
        "children_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ocr", description=__doc__.splitlines()[0])
    p.add_argument("--clean-per-kind", type=int, default=4, help="clean images per document kind (10 kinds)")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--threads", type=int, default=2, help="onnxruntime threads for the accuracy/speed run")
    p.add_argument("--pool-images", type=int, default=24)
    p.add_argument("--install-fonts", action="store_true")
    args = p.parse_args(argv)

    fonts = ensure_fonts(args.install_fonts)
    samples = make_set(
        args.seed, clean_per_kind=args.clean_per_kind, fonts=fonts, layouts=HELD_OUT_LAYOUTS, today=date(2026, 11, 27)
    )
    print(f"{len(samples)} held-out images, fonts {[f.name for f in fonts]}, layouts {HELD_OUT_LAYOUTS}", flush=True)
    run = accuracy_and_speed(samples, args.threads)
    pool_set = samples[: args.pool_images]
    pools = [asyncio.run(throughput(pool_set, 1, 2)), asyncio.run(throughput(pool_set, 2, 1))]
    out = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "images": len(samples),
        "fonts": [f.name for f in fonts],
        "layouts": list(HELD_OUT_LAYOUTS),
        "cpus": os.cpu_count(),
        "load_avg_at_end": os.getloadavg(),
        **run,
        "pool": pools,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"ocr-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(out, ensure_ascii=False, indent=2))
    a = run["accuracy"]
    print(f"\nresults: {path.relative_to(RESULTS.parent.parent)}\n")
    print("| measure | goal | result |\n|---|---|---|")
    print(f"| material type right | ≥ 97% | {a['type_accuracy']:.1%} (n={a['type_n']}) |")
    print(f"| field values exact | ≥ 95% | {a['field_accuracy']:.1%} (n={a['field_n']}) |")
    print(f"| planted defects found | ≥ 95% | {a['defect_recall']:.1%} (n={a['defect_n']}) |")
    print(f"| clean images with a false finding | ≤ 3% | {a['false_finding_rate']:.1%} (n={a['clean_n']}) |")
    print(
        f"| median time per image vs bare RapidOCR | ≤ 1.2× | {run['median_ratio']:.2f}× "
        f"({run['median_full_ms']:.0f} ms vs {run['median_bare_ms']:.0f} ms; upright only "
        f"{run['median_ratio_upright']:.2f}×) |"
    )
    print(f"| peak RSS, one engine | recorded | {run['peak_rss_mb']:.0f} MB |")
    for pool in pools:
        print(
            f"| pool {pool['workers']} worker(s) × {pool['threads']} thread(s) | recorded | "
            f"{pool['images_per_second']:.2f} images/s ({pool['images']} images, {pool['seconds']} s) |"
        )
    if run["misses"]:
        print("\nmisses:\n" + "\n".join(f"- {m}" for m in run["misses"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
