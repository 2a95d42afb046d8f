"""Files the tests render themselves (marked 样本 so they can never pass for real documents)."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw


def jpeg(width: int = 320, height: int = 200, text: str = "SAMPLE 样本", quality: int = 85) -> bytes:
    img = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(img).text((10, 10), text.encode("ascii", "ignore").decode() or "SAMPLE", fill="black")
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def png(width: int = 64, height: int = 64) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), "gray").save(buf, "PNG")
    return buf.getvalue()


def pdf(pages: int = 1) -> bytes:
    """A minimal well-formed PDF with the given number of (empty) pages."""
    objs = ["<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{3 + i} 0 R" for i in range(pages))
    objs.append(f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>")
    objs += ["<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>"] * pages
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(out.tell())
        out.write(f"{i} 0 obj\n{body}\nendobj\n".encode())
    xref = out.tell()
    out.write(f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header (a valid IHDR, right CRC) claims the given size, with no pixel data behind it: what a
    decompression bomb looks like to a reader that trusts the header."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    """The first part of a file, as an interrupted upload or a half-written photo leaves it."""
    return data[: max(1, int(len(data) * keep))]
