"""Text from the images of a scanned PDF page, offline, with RapidOCR.

RapidOCR (the ``rapidocr`` package) carries its detection, orientation and recognition models
(PP-OCR, ONNX) inside the package and runs them with onnxruntime on the CPU: nothing is
downloaded. The engine is made once per process, on the first page that needs it (about a second),
and used by one thread at a time.

A scanned page is one or more images; each is read separately. Lines come back as boxes with text
and a confidence; they are put in reading order (top to bottom, then left to right on a line), and
a vertical gap of more than one and a half line heights starts a new paragraph.
"""

from __future__ import annotations

import io
import logging
import threading
from typing import Any

log = logging.getLogger(__name__)
MIN_CONFIDENCE = 0.5  # recognised lines below this are noise (specks, stamps)
MIN_SIDE = 32  # images smaller than this (rules, bullets) hold no text worth reading

_engine: Any = None
_lock = threading.Lock()


class OcrUnavailable(Exception):
    """The OCR packages are missing from this installation."""


def _get_engine() -> Any:
    global _engine
    if _engine is None:
        try:
            from rapidocr import RapidOCR
        except ImportError as exc:
            raise OcrUnavailable("OCR is not installed (pip install rapidocr onnxruntime)") from exc
        logging.getLogger("RapidOCR").setLevel(logging.ERROR)
        _engine = RapidOCR(params={"Global.log_level": "error"})
    return _engine


def image_lines(image: Any) -> list[tuple[float, float, float, str]]:
    """(top, left, height, text) of each line RapidOCR reads in a PIL image."""
    import numpy as np

    if min(image.size) < MIN_SIDE:
        return []
    array = np.asarray(image.convert("RGB"))[:, :, ::-1]  # RGB -> BGR, as OpenCV reads files
    with _lock:
        result = _get_engine()(array)
    boxes, texts, scores = result.boxes, result.txts, result.scores
    if boxes is None or texts is None:
        return []
    out = []
    for box, text, score in zip(boxes, texts, scores or [1.0] * len(texts), strict=False):
        if float(score) < MIN_CONFIDENCE or not str(text).strip():
            continue
        ys = [float(p[1]) for p in box]
        xs = [float(p[0]) for p in box]
        out.append((min(ys), min(xs), max(ys) - min(ys), str(text).strip()))
    return out


def paragraphs(lines: list[tuple[float, float, float, str]]) -> list[str]:
    """Lines in reading order, joined into paragraphs at the larger vertical gaps."""
    if not lines:
        return []
    heights = sorted(h for _t, _l, h, _s in lines)
    line_height = max(heights[len(heights) // 2], 1.0)
    ordered = sorted(lines, key=lambda line: (round(line[0] / (line_height * 0.6)), line[1]))
    paras: list[list[str]] = [[]]
    last_bottom = None
    for top, _left, height, text in ordered:
        if last_bottom is not None and top - last_bottom > 1.5 * line_height:
            paras.append([])
        paras[-1].append(text)
        last_bottom = max(top + height, last_bottom or 0.0)
    return [" ".join(p) for p in paras if p]


def page_text(page: Any) -> list[str]:
    """The paragraphs OCR reads in a pypdf page's images (none: an empty list)."""
    from PIL import Image

    found: list[str] = []
    for picture in page.images:
        try:
            image = Image.open(io.BytesIO(picture.data))
            image.load()
        except Exception as exc:  # an image format Pillow cannot decode: the rest still count
            log.warning("OCR: cannot decode %s: %s", getattr(picture, "name", "an image"), exc)
            continue
        found += paragraphs(image_lines(image))
    return found
