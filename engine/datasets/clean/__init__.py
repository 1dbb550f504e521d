"""Cleaning steps, one module each. Each makes a new version that records what it removed or changed.

- ``filter_rows``: token length (a model's tokenizer and chat template, or the estimate), regex
  include/exclude, empty or missing fields -- one version for all criteria given;
- ``dedup``: exact duplicates of normalised text (NFKC, case-folded, whitespace collapsed), or
  near duplicates (MinHash + LSH, see ``minhash``); ``dry_run`` returns the clusters without
  removing anything, so they can be reviewed first;
- ``scrub_pii``: e-mail addresses, phone numbers and IP addresses replaced by placeholders;
- ``contamination``: rows of a training set sharing word n-grams with an evaluation set (another
  dataset, or another split of this one), listed, and removed on request;
- ``remove_rows``: drop rows by position (e.g. the reviewed dedup clusters).

A step that would leave no rows raises ``UserError`` and makes no version.
"""

from __future__ import annotations

from engine.datasets.clean.common import is_empty_row
from engine.datasets.clean.contamination import contamination
from engine.datasets.clean.dedup import check_dedup_params, dedup, normalize
from engine.datasets.clean.filter import check_filter_params, filter_rows
from engine.datasets.clean.pii import PII_PATTERNS, check_pii_kinds, scrub_pii, scrub_text
from engine.datasets.clean.remove import remove_rows

__all__ = [
    "PII_PATTERNS",
    "check_dedup_params",
    "check_filter_params",
    "check_pii_kinds",
    "contamination",
    "dedup",
    "filter_rows",
    "is_empty_row",
    "normalize",
    "remove_rows",
    "scrub_pii",
    "scrub_text",
]
