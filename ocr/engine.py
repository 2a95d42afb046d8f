"""OCR engines behind one small interface: image in, text lines with their boxes out.

RapidOCR (``rapidocr_onnxruntime``) is the default: PaddleOCR's PP-OCRv4 detection and recognition models and
the text-direction classifier, run on onnxruntime, shipped inside the wheel (works offline). PaddleOCR proper
(``paddleocr`` + ``paddlepaddle`` with local model directories) can be chosen with WEIJIAN_OCR_ENGINE=paddle.

An engine instance is not thread-safe and loads ~15 MB of models: make one per worker process (ocr.pool)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class TextLine:
    text: str
    score: float
    box: tuple[tuple[float, float], ...]  # four corners, clockwise from top-left, in image pixels

    @property
    def x0(self) -> float:
        return min(p[0] for p in self.box)

    @property
    def x1(self) -> float:
        return max(p[0] for p in self.box)

    @property
    def y0(self) -> float:
        return min(p[1] for p in self.box)

    @property
    def y1(self) -> float:
        return max(p[1] for p in self.box)

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2

    @property
    def h(self) -> float:
        return self.y1 - self.y0

    @property
    def w(self) -> float:
        return self.x1 - self.x0


@dataclass
class EngineResult:
    lines: list[TextLine]
    flipped: float  # share of detected lines the direction classifier turned by 180°


class Engine(Protocol):
    name: str

    def read(self, image: np.ndarray) -> EngineResult:
        """``image``: RGB uint8 array. Never raises for an image without text (empty result)."""
        ...


class _RecordingClassifier:
    """Wraps RapidOCR's text-direction classifier to keep its verdicts: a page upside down shows as most of
    its lines classified '180' (RapidOCR turns each line upright but does not report it)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.last: list[Any] = []

    def __call__(self, imgs: Any) -> Any:
        out = self.inner(imgs)
        self.last = out[1]
        return out


class RapidEngine:
    name = "rapidocr"

    def __init__(self, threads: int = 1) -> None:
        from rapidocr_onnxruntime import RapidOCR

        # One intra-op thread per worker process by default: two workers on a 2-core machine use both cores
        # without oversubscribing (onnxruntime's default is one thread per core in every process).
        self._ocr = RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1)
        self._cls = _RecordingClassifier(self._ocr.text_cls)
        self._ocr.text_cls = self._cls

    def read(self, image: np.ndarray) -> EngineResult:
        self._cls.last = []
        # RapidOCR expects OpenCV's BGR order.
        result, _ = self._ocr(np.ascontiguousarray(image[:, :, ::-1]))
        lines = [
            TextLine(text=str(text), score=float(score), box=tuple((float(x), float(y)) for x, y in box))
            for box, text, score in (result or ())
        ]
        verdicts = [label for label, conf in self._cls.last if conf > 0.7]
        flipped = sum(1 for v in verdicts if v == "180") / len(verdicts) if verdicts else 0.0
        return EngineResult(lines=lines, flipped=flipped)

    def bare(self, data: bytes) -> Any:
        """A plain RapidOCR call on the encoded file (the bench's baseline)."""
        return self._ocr(data)


class PaddleEngine:
    """PaddleOCR with local model directories (WEIJIAN_OCR_PADDLE_MODEL_DIR/{det,rec,cls}). Needs the
    ``paddleocr`` and ``paddlepaddle`` packages, which this project does not install by default."""

    name = "paddleocr"

    def __init__(self, model_dir: Path, threads: int = 1) -> None:
        try:
            from paddleocr import PaddleOCR
        except ImportError as exc:  # pragma: no cover - depends on the deployment
            raise RuntimeError("WEIJIAN_OCR_ENGINE=paddle needs `pip install paddleocr paddlepaddle`") from exc
        self._ocr = PaddleOCR(
            use_angle_cls=True,
            lang="ch",
            det_model_dir=str(model_dir / "det"),
            rec_model_dir=str(model_dir / "rec"),
            cls_model_dir=str(model_dir / "cls"),
            cpu_threads=threads,
            show_log=False,
        )

    def read(self, image: np.ndarray) -> EngineResult:  # pragma: no cover - depends on the deployment
        pages = self._ocr.ocr(np.ascontiguousarray(image[:, :, ::-1]), cls=True) or [[]]
        lines = [
            TextLine(text=str(t), score=float(s), box=tuple((float(x), float(y)) for x, y in box))
            for box, (t, s) in (pages[0] or ())
        ]
        return EngineResult(lines=lines, flipped=0.0)


def make_engine(kind: str = "rapidocr", *, threads: int = 1, paddle_model_dir: Path | None = None) -> Engine:
    if kind in {"rapidocr", "rapid"}:
        return RapidEngine(threads=threads)
    if kind in {"paddle", "paddleocr"}:
        if paddle_model_dir is None:
            raise RuntimeError("WEIJIAN_OCR_ENGINE=paddle needs WEIJIAN_OCR_PADDLE_MODEL_DIR")
        return PaddleEngine(paddle_model_dir, threads=threads)
    raise RuntimeError(f"unknown OCR engine {kind!r} (rapidocr or paddle)")
