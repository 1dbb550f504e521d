"""Turning what a user typed into names that are safe in folder names and ids."""

from __future__ import annotations

import re


def slugify(name: str, *, limit: int = 40, fallback: str = "item") -> str:
    """Lower-case ASCII letters and digits joined by single dashes, at most ``limit`` long."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:limit].rstrip("-") or fallback
