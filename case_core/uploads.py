"""Checks on an uploaded file before it is kept: type by content (JPEG, PNG, PDF), size, decompression bombs."""

from __future__ import annotations

import io
import re
import unicodedata
import warnings
from dataclasses import dataclass

from PIL import Image

from case_core.domain.errors import FileRejected, PayloadTooLarge, UnsupportedMedia

ALLOWED = {"image/jpeg": "JPEG", "image/png": "PNG", "application/pdf": "PDF"}


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 60_000_000
    max_pdf_pages: int = 200


@dataclass(frozen=True)
class CheckedFile:
    content_type: str
    width: int | None = None
    height: int | None = None
    pages: int | None = None


def sniff(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:1024].lstrip().startswith(b"%PDF-"):
        return "application/pdf"
    return None


def too_large(limits: UploadLimits) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"文件不能超过{limits.max_bytes // (1024 * 1024)}MB，请压缩后重新上传", max_bytes=limits.max_bytes
    )


def check_file(data: bytes, limits: UploadLimits) -> CheckedFile:
    """Raise a clear error for anything we will not keep; CPU-bound, so call it off the event loop."""
    if len(data) > limits.max_bytes:
        raise too_large(limits)
    if not data:
        raise FileRejected("file_empty", "文件为空，请重新选择文件上传")
    kind = sniff(data)
    if kind is None:
        raise UnsupportedMedia("仅支持上传 JPG、PNG 图片或 PDF 文件", allowed=sorted(ALLOWED))
    if kind == "application/pdf":
        return _check_pdf(data, limits)
    return _check_image(data, kind, limits)


def _check_image(data: bytes, kind: str, limits: UploadLimits) -> CheckedFile:
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that; we refuse at our own limit instead.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                if width * height > limits.max_pixels:
                    raise FileRejected("image_too_large", "图片像素过大，请缩小后重新上传", width=width, height=height)
                if img.format != ALLOWED[kind]:
                    raise UnsupportedMedia("文件内容与图片格式不符，请重新上传")
                img.load()  # decodes fully: catches truncated and corrupt files
    except (FileRejected, UnsupportedMedia):
        raise
    except Image.DecompressionBombError as exc:
        raise FileRejected("image_too_large", "图片像素过大，请缩小后重新上传") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise FileRejected("file_corrupt", "图片已损坏或不完整，请重新拍照或重新上传") from exc
    return CheckedFile(content_type=kind, width=width, height=height)


_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


def _check_pdf(data: bytes, limits: UploadLimits) -> CheckedFile:
    if b"%%EOF" not in data[-2048:]:
        raise FileRejected("file_corrupt", "PDF 文件不完整，请重新上传")
    pages = len(_PAGE.findall(data))
    if pages > limits.max_pdf_pages:
        raise FileRejected("too_many_pages", f"PDF 页数不能超过{limits.max_pdf_pages}页", pages=pages)
    return CheckedFile(content_type="application/pdf", pages=pages)


def safe_filename(name: str | None, content_type: str) -> str:
    """A display name only (never a path): no directories, no control characters, bounded length."""
    ext = {"image/jpeg": ".jpg", "image/png": ".png", "application/pdf": ".pdf"}[content_type]
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in unicodedata.normalize("NFC", base) if unicodedata.category(c)[0] != "C")
    base = base.strip(" .")[:80]
    if not base:
        base = "材料"
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return stem + ext
