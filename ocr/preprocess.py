"""From uploaded bytes to an upright RGB array of a sensible size, plus what the pixels say about quality."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageOps

from case_core.uploads import sniff

MAX_SIDE = 1600  # long side fed to detection: enough for 30 px glyphs on an A4 photo, and a bounded cost
MIN_SIDE_READABLE = 32
LOW_RES_LONG_SIDE = 640  # below this a phone photo of a certificate cannot show its small print reliably


class Unreadable(Exception):
    """The file is an image or PDF by its signature but cannot be decoded into pixels."""


@dataclass
class Page:
    image: np.ndarray  # RGB uint8, upright per EXIF, downscaled to MAX_SIDE
    width: int  # of the original, after EXIF orientation
    height: int
    exif_rotated: bool
    pages: int = 1  # of a PDF
    sharpness: float = 0.0  # variance of the Laplacian at a fixed scale: low means blurred
    contrast: float = 0.0  # standard deviation of the grey levels: near 0 for a blank page (not "blurred")


def _sharpness(rgb: np.ndarray) -> tuple[float, float]:
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    scale = 1000 / max(h, w)
    if scale < 1:
        gray = cv2.resize(gray, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var()), float(gray.std())


def _from_pil(img: Image.Image, pages: int = 1) -> Page:
    exif_rotated = False
    orientation = img.getexif().get(0x0112, 1) if hasattr(img, "getexif") else 1
    if orientation not in (1, None):
        img = ImageOps.exif_transpose(img)
        exif_rotated = True
    width, height = img.size
    if max(width, height) > MAX_SIDE:
        # reduce() on JPEG uses the decoder's DCT scaling after draft(); thumbnail keeps the aspect ratio.
        img = img.copy()
        img.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    rgb = np.asarray(img.convert("RGB"))
    sharpness, contrast = _sharpness(rgb)
    return Page(rgb, width, height, exif_rotated, pages=pages, sharpness=sharpness, contrast=contrast)


def load(data: bytes) -> Page:
    """Decode; raise Unreadable for a corrupt or truncated file. Size caps are checked before (case_core.uploads)."""
    kind = sniff(data)
    if kind == "application/pdf":
        return _load_pdf(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if img.format == "JPEG" and max(img.size) > 2 * MAX_SIDE:
                img.draft("RGB", (MAX_SIDE, MAX_SIDE))  # decode at 1/2, 1/4 or 1/8 scale: far less work
            img.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise Unreadable(str(exc)) from exc
    return _from_pil(img)


def _load_pdf(data: bytes) -> Page:
    import pypdfium2 as pdfium

    try:
        doc = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise Unreadable(str(exc)) from exc
    try:
        pages = len(doc)
        if pages == 0:
            raise Unreadable("PDF has no pages")
        page = doc[0]
        w, h = page.get_size()  # points
        scale = min(3.0, MAX_SIDE / max(w, h, 1))
        img = page.render(scale=scale).to_pil()
    finally:
        doc.close()
    return _from_pil(img, pages=pages)


def rotate(rgb: np.ndarray, degrees: int) -> np.ndarray:
    """Rotate counter-clockwise by a multiple of 90°."""
    k = (degrees // 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, k)) if k else rgb
