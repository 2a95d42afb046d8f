"""Bad input: a clear error with a stable code, or a clear finding; never a crash or a hung worker."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from case_core.domain.errors import FileRejected, UnsupportedMedia
from case_core.uploads import UploadLimits
from ocr.inputs import check_input
from ocr.inspect import Inspector

LIMITS = UploadLimits()
TODAY = __import__("datetime").date(2026, 11, 27)


def _png(w: int, h: int, color: tuple[int, int, int] = (255, 255, 255)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, "PNG")
    return buf.getvalue()


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _codes(r: object) -> list[str]:
    return [f.code for f in r.findings]  # type: ignore[attr-defined]


def test_not_an_image_is_refused_with_a_stable_code() -> None:
    with pytest.raises(UnsupportedMedia) as exc:
        check_input(b"MZ\x90\x00 this is an executable", LIMITS)
    assert exc.value.code == "unsupported_media_type" and "JPG" in exc.value.message


def _png_header_claiming(w: int, h: int) -> bytes:
    """A small PNG whose header says w×h: what a decompression bomb looks like before it is decoded."""
    data = bytearray(_png(1, 1))
    ihdr = 8 + 8  # signature, then the IHDR chunk's length and type
    data[ihdr : ihdr + 8] = struct.pack(">II", w, h)
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", zlib.crc32(bytes(data[ihdr - 4 : ihdr + 13])))
    return bytes(data)


def test_a_huge_image_is_refused_before_it_is_decoded() -> None:
    data = _png_header_claiming(20000, 20000)  # 400 million pixels if anyone decoded it
    with pytest.raises(FileRejected) as exc:
        check_input(data, LIMITS)
    assert exc.value.code == "image_too_large"


def test_a_pdf_with_too_many_pages_is_refused() -> None:
    pages = b"".join(b"%d 0 obj << /Type /Page >> endobj\n" % i for i in range(LIMITS.max_pdf_pages + 1))
    with pytest.raises(FileRejected) as exc:
        check_input(b"%PDF-1.4\n" + pages + b"%%EOF", LIMITS)
    assert exc.value.code == "too_many_pages"


def test_a_truncated_jpeg_is_an_unreadable_finding(inspector: Inspector) -> None:
    data = _jpeg(Image.new("RGB", (800, 600), (200, 220, 240)))[:1500]
    check_input(data, LIMITS)  # accepted for inspection…
    r = inspector.inspect(data, expect="resident_id_card", today=TODAY)
    assert _codes(r) == ["unreadable"] and r.material_type is None  # …and explained


def test_a_one_pixel_image_is_too_small_to_read(inspector: Inspector) -> None:
    r = inspector.inspect(_png(1, 1), today=TODAY)
    assert set(_codes(r)) == {"low_resolution", "unreadable"}
    assert all(f.severity == "error" for f in r.findings)


def test_an_image_without_text_is_unreadable(inspector: Inspector) -> None:
    noise = Image.effect_noise((900, 700), 30).convert("RGB")
    r = inspector.inspect(_jpeg(noise), expect="diploma", today=TODAY)
    assert "unreadable" in _codes(r)
    assert r.fields == {}


def test_a_blank_page_is_unreadable_not_a_crash(inspector: Inspector) -> None:
    r = inspector.inspect(_png(1200, 800), today=TODAY)
    assert _codes(r) == ["unreadable"]


def test_a_pdf_is_read_from_its_first_page(inspector: Inspector) -> None:
    from ocr.samples import TEST_FONTS, available_fonts, make_sample

    s = make_sample("diploma", __import__("random").Random(5), fonts=available_fonts(TEST_FONTS), rotate=0)
    page = Image.open(io.BytesIO(s.image)).convert("RGB")
    buf = io.BytesIO()
    page.save(buf, "PDF", save_all=True, append_images=[page.copy()], resolution=150)
    data = buf.getvalue()
    check_input(data, LIMITS)
    r = inspector.inspect(data, expect="diploma", today=TODAY)
    assert r.material_type == "diploma" and r.meta["pages"] == 2
    assert r.fields.get("cert_no") == s.fields["cert_no"]
