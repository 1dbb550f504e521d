"""Where question/answer generation reads document chunks from.

The whole contract is ``chunks_source(services, collection, files=None) -> iterable of {text,
file, page}`` (``page`` may be None). Tests replace it with a fake; the default reads the indexed
files of the collection (those named in ``files``, if given) from the Documents catalog, loaded
and split again with the collection's chunk size (words standing in for the embedder's tokens),
so page numbers come along.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError

if TYPE_CHECKING:
    from engine.services import Services


def chunks_source(
    services: Services, collection: str, files: list[str] | None = None
) -> Iterable[dict[str, Any]]:
    """The collection's chunks (of ``files`` only, given as paths or names, when set)."""
    try:
        from engine.documents.catalog import Catalog
    except ImportError:
        raise UserError(
            "Document collections are not available in this Hearth; generate with self-instruct "
            "seeds instead."
        ) from None
    found = Catalog(services).get(collection)
    indexed = Catalog(services).files(found["id"], status="indexed")
    if not indexed:
        raise UserError(
            f"The collection {found['name']} has no indexed files; add documents to it first."
        )
    if files:
        wanted = {str(f) for f in files}
        chosen = [r for r in indexed if r["path"] in wanted or Path(r["path"]).name in wanted]
        known = {r["path"] for r in chosen} | {Path(r["path"]).name for r in chosen}
        missing = sorted(wanted - known)
        if missing:
            names = ", ".join(Path(r["path"]).name for r in indexed[:20])
            raise UserError(
                f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not an indexed file "
                f"of {found['name']}; its files: {names}."
            )
        indexed = chosen
    return _resplit(found, indexed)


def check_collection(services: Services, collection: str) -> str:
    """The collection's name; ``NotFoundError`` now, before a job starts, when it does not exist."""
    try:
        from engine.documents.catalog import Catalog
    except ImportError:
        return collection
    return str(Catalog(services).get(collection)["name"])


def _resplit(collection: dict[str, Any], files: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    from engine.documents.loaders import BadFile, open_document
    from engine.documents.splitter import Splitter, WordCounter

    settings = collection.get("settings") or {}
    from engine.documents.settings import CollectionSettings

    limits = CollectionSettings.from_dict({k: v for k, v in settings.items() if k.startswith("max_")}).limits()  # fmt: skip
    splitter = Splitter(
        WordCounter(),
        max_tokens=int(settings.get("chunk_tokens") or 200),
        overlap_tokens=int(settings.get("overlap_tokens") or 0),
    )
    for f in files:
        path = Path(f["path"])
        try:
            doc = open_document(path, limits)
            for chunk in splitter.split(doc.blocks()):
                if chunk.text.strip():
                    yield {
                        "text": chunk.text,
                        "file": f.get("name") or path.name,
                        "page": chunk.page,
                    }
        except (BadFile, OSError):
            continue  # a file gone or changed since indexing: generate from the others


def count_hint(chunks: Iterable[Any]) -> int | None:
    try:
        return len(chunks)  # type: ignore[arg-type]
    except TypeError:
        return None
