"""``scrub_pii``: e-mail addresses, phone numbers and IP addresses replaced by placeholders."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError
from engine.datasets.clean.common import SAMPLE
from engine.datasets.library import DatasetLibrary

if TYPE_CHECKING:
    from engine.services import Services


_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
PII_PATTERNS: dict[str, tuple[re.Pattern, str]] = {
    "email": (
        re.compile(
            r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"
        ),
        "[EMAIL]",
    ),
    "ip": (
        re.compile(
            rf"(?<![\d.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\d.]*\d)"
            r"|(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}(?![\w:])"
            r"|(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){1,6}(?::[0-9A-Fa-f]{1,4}){1,6}(?![\w:])"
            r"|(?<![\w:])::1(?![\w:])"
        ),
        "[IP]",
    ),
    "phone": (
        re.compile(
            r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{1,4}(?:[\s.-]\d{2,5}){1,4}(?![\w-])"
            r"|(?<![\w+])\+\d{7,15}(?!\w)|(?<![\w+])\d{10,11}(?!\w)"
        ),
        "[PHONE]",
    ),
}
_DATE = re.compile(r"^\d{4}[-./]\d{1,2}[-./]\d{1,2}$|^\d{1,2}[-./]\d{1,2}[-./]\d{2,4}$")


def _phone_ok(match: str) -> bool:
    digits = sum(c.isdigit() for c in match)
    return 7 <= digits <= 15 and not _DATE.match(match.strip())


def scrub_text(text: str, kinds: tuple[str, ...], counts: dict[str, int]) -> str:
    for kind in ("email", "ip", "phone"):  # IPs before phones: 10.0.0.1 is not a phone number
        if kind not in kinds:
            continue
        pattern, token = PII_PATTERNS[kind]

        def sub(m: re.Match, kind: str = kind, token: str = token) -> str:
            if kind == "phone" and not _phone_ok(m.group(0)):
                return m.group(0)
            counts[kind] += 1
            return token

        text = pattern.sub(sub, text)
    return text


def _scrub_value(value: Any, kinds: tuple[str, ...], counts: dict[str, int]) -> Any:
    if isinstance(value, str):
        return scrub_text(value, kinds, counts)
    if isinstance(value, list):
        return [_scrub_value(v, kinds, counts) for v in value]
    if isinstance(value, dict):
        return {k: _scrub_value(v, kinds, counts) for k, v in value.items()}
    return value


def check_pii_kinds(kinds: Any) -> tuple[str, ...]:
    if kinds is None:
        return tuple(PII_PATTERNS)
    if not isinstance(kinds, list) or not kinds or any(k not in PII_PATTERNS for k in kinds):
        raise UserError(f"kinds must be a list drawn from {', '.join(PII_PATTERNS)}.")
    return tuple(kinds)


def scrub_pii(services: Services, ref: str, params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    kinds = check_pii_kinds(params.get("kinds"))
    lib = DatasetLibrary(services)
    ds, ver = lib.version_of(ref)
    counts = dict.fromkeys(kinds, 0)
    changed: list[int] = []
    examples: list[dict[str, Any]] = []

    def scrub(pos: int, row: dict[str, Any]) -> dict[str, Any]:
        before = sum(counts.values())
        out = _scrub_value(row, kinds, counts)
        if sum(counts.values()) == before:
            return row
        changed.append(pos)
        if len(examples) < 20:
            examples.append({"index": pos, "before": row, "after": out})
        return out

    if params.get("dry_run"):
        with lib.reader(ds["id"], ver["version"]) as reader:
            for pos, row in reader.iter_rows():
                if pos % 8192 == 0:
                    ctx.check_cancelled()
                scrub(pos, row)
        return {"counts": counts, "rows_changed": len(changed), "examples": examples,
                "dry_run": True, "dataset": ds, "version": None}  # fmt: skip
    if not _any_pii(lib, ds, ver, kinds, ctx):
        return {"counts": counts, "rows_changed": 0, "examples": [], "dry_run": False,
                "dataset": ds, "version": None}  # fmt: skip
    result = lib.rewrite(
        ds,
        ver,
        scrub,
        fmt=ver["format"],
        operation="scrub_pii",
        params={"kinds": list(kinds)},
        summary=lambda: {
            "description": "Scrubbed "
            + ", ".join(f"{v:,} {k}{'s' if v != 1 else ''}" for k, v in counts.items())
            + f" in {len(changed):,} rows.",
            "counts": counts,
            "rows_changed": len(changed),
            "changed_sample": changed[:SAMPLE],
        },
        empty_message="The dataset is empty.",
        progress=lambda f: ctx.progress(f, "Scrubbing"),
        check_cancelled=ctx.check_cancelled,
    )
    return {
        **result,
        "counts": counts,
        "rows_changed": len(changed),
        "examples": examples,
        "dry_run": False,
    }


def _any_pii(lib: DatasetLibrary, ds: dict, ver: dict, kinds: tuple[str, ...], ctx: Any) -> bool:
    """A cheap first pass, so a clean dataset gets no new (identical) version."""
    counts = dict.fromkeys(kinds, 0)
    with lib.reader(ds["id"], ver["version"]) as reader:
        for pos, _entry, raw in reader.iter_raw():
            if pos % 8192 == 0:
                ctx.check_cancelled()
            scrub_text(raw.decode("utf-8"), kinds, counts)
            if any(counts.values()):
                return True
    return False
