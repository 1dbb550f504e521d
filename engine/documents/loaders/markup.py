"""HTML with its boilerplate stripped, through the standard library's ``html.parser``.

The page is parsed into a light tree; the content root is ``<main>`` (or ``role=main``), else the
longest ``<article>``, else ``<body>``. Scripts, styles, navigation, headers and footers outside the
content, asides, forms, and elements whose class or id says menu, sidebar, cookie, banner and the
like are dropped. ``h1``..``h6`` set the heading path; paragraphs, list items, table rows and other
block elements become blocks; ``<pre>`` keeps its whitespace.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

from engine.documents.loaders.base import BadFile, Block, Document
from engine.documents.loaders.text import decoded_pieces, detect_encoding

MAX_HTML_BYTES = 64 * 1024 * 1024
VOID = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
    "track", "wbr", "param",
}  # fmt: skip
DROP = {
    "script", "style", "noscript", "template", "svg", "iframe", "canvas", "head", "form",
    "button", "select", "textarea", "nav", "aside", "menu", "dialog", "object",
}  # fmt: skip
DROP_OUTSIDE_CONTENT = {"header", "footer"}
DROP_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "menu", "dialog"}
BOILERPLATE = re.compile(
    r"(^|[\s_-])(nav|navbar|navigation|menu|footer|sidebar|side-bar|cookie|cookies|consent|"
    r"banner|breadcrumbs?|advert|ads|social|share|sharing|related|comments?|popup|modal|skip-link)"
    r"($|[\s_-])",
    re.IGNORECASE,
)
BLOCK = {
    "p", "div", "section", "article", "main", "li", "ul", "ol", "dl", "dt", "dd", "blockquote",
    "pre", "table", "tr", "figure", "figcaption", "address", "details", "summary", "body",
    "header", "footer", "hr", "caption",
}  # fmt: skip
HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_IMPLICIT = {
    "p": {"p"},
    "li": {"li", "p"},
    "dt": {"dt", "dd", "p"},
    "dd": {"dt", "dd", "p"},
    "tr": {"tr", "td", "th"},
    "td": {"td", "th"},
    "th": {"td", "th"},
    **{h: {"p"} for h in HEADINGS},
}
_SCOPES = {"ul", "ol", "dl", "table", "body", "html", "div", "section", "article", "main"}
_SPACE = re.compile(r"\s+")


MAX_DEPTH = 200  # elements nested deeper are flattened into their ancestor at this depth


class Node:
    __slots__ = ("attrs", "children", "depth", "parent", "tag")

    def __init__(self, tag: str, attrs: dict[str, str], parent: Node | None) -> None:
        self.tag = tag
        self.attrs = attrs
        self.parent = parent
        self.depth = 0 if parent is None else parent.depth + 1
        self.children: list[Node | str] = []

    def text_length(self) -> int:
        return sum(len(c) if isinstance(c, str) else c.text_length() for c in self.children)


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {}, None)
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # HTML's implicit end tags: a block closes an open <p>, an <li> the previous <li>...
        closes = _IMPLICIT.get(tag, {"p"} if tag in BLOCK else set())
        node, target = self.current, None
        while closes and node is not self.root and node.tag not in _SCOPES:
            if node.tag in closes:
                target = node  # keep walking: a <tr> closes its open <td> and the <tr> around it
            node = node.parent  # type: ignore[assignment]
        if target is not None:
            self.current = target.parent or self.root
        if self.current.depth >= MAX_DEPTH:
            # Real pages nest a few dozen deep; a page nested 100,000 deep is built to exhaust
            # whatever walks it. Its deeper tags are dropped, their text kept where they are.
            return
        node = Node(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.current.children.append(Node(tag, {k: v or "" for k, v in attrs}, self.current))

    def handle_endtag(self, tag: str) -> None:
        node = self.current
        while node is not self.root:
            if node.tag == tag:
                self.current = node.parent or self.root
                return
            node = node.parent  # type: ignore[assignment]

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse(text: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(text)
    builder.close()
    return builder.root


def _find_all(node: Node, test) -> Iterator[Node]:
    for child in node.children:
        if isinstance(child, Node):
            if test(child):
                yield child
            yield from _find_all(child, test)


def _is_boilerplate(node: Node, inside_content: bool) -> bool:
    if node.tag in DROP or (node.tag in DROP_OUTSIDE_CONTENT and not inside_content):
        return True
    attrs = node.attrs
    if attrs.get("role", "").lower() in DROP_ROLES or attrs.get("aria-hidden") == "true":
        return True
    if "hidden" in attrs and node.tag not in ("input",):
        return True
    marker = f"{attrs.get('class', '')} {attrs.get('id', '')}"
    return bool(marker.strip()) and bool(BOILERPLATE.search(marker)) and node.tag != "body"


def content_root(root: Node) -> Node:
    mains = list(_find_all(root, lambda n: n.tag == "main" or n.attrs.get("role") == "main"))
    if mains:
        return max(mains, key=Node.text_length)
    articles = list(_find_all(root, lambda n: n.tag == "article"))
    if articles:
        return max(articles, key=Node.text_length)
    bodies = list(_find_all(root, lambda n: n.tag == "body"))
    return bodies[0] if bodies else root


def html_blocks(root: Node) -> Iterator[Block]:
    content = content_root(root)
    inside = content is not root and content.tag in ("main", "article")
    path: list[tuple[int, str]] = []
    buf: list[str] = []

    def headings() -> tuple[str, ...]:
        return tuple(t for _, t in path)

    def flush() -> Iterator[Block]:
        text = "".join(buf)
        buf.clear()
        lines = [_SPACE.sub(" ", line).strip() for line in text.split("\n")]
        text = "\n".join(line for line in lines if line)
        if text:
            yield Block(text, headings=headings())

    def walk(node: Node, pre: bool) -> Iterator[Block]:
        for child in node.children:
            if isinstance(child, str):
                buf.append(child if pre else child.replace("\n", " "))
                continue
            if _is_boilerplate(child, inside or child.tag in ("main", "article")):
                continue
            tag = child.tag
            if tag in HEADINGS:
                yield from flush()
                walk_buf: list[str] = []
                _collect_text(child, walk_buf)
                title = _SPACE.sub(" ", "".join(walk_buf)).strip()
                if title:
                    level = HEADINGS[tag]
                    while path and path[-1][0] >= level:
                        path.pop()
                    path.append((level, title))
                    yield Block(title, headings=headings(), heading=True)
                continue
            if tag == "br":
                buf.append("\n")
                continue
            if tag in ("td", "th"):
                yield from walk(child, pre)
                buf.append(" | ")
                continue
            block = tag in BLOCK
            if block:
                yield from flush()
            yield from walk(child, pre or tag == "pre")
            if block:
                if tag == "tr":
                    while buf and buf[-1] == " | ":
                        buf.pop()
                yield from flush()

    yield from walk(content, False)
    yield from flush()


def _collect_text(node: Node, out: list[str]) -> None:
    for child in node.children:
        if isinstance(child, str):
            out.append(child)
        elif child.tag not in DROP:
            _collect_text(child, out)


def open_html(path: Path) -> Document:
    if path.stat().st_size > MAX_HTML_BYTES:
        raise BadFile(
            f"HTML file larger than {MAX_HTML_BYTES // (1024 * 1024)} MB; save it as text first"
        )
    encoding = detect_encoding(path)

    def blocks() -> Iterator[Block]:
        root = parse("".join(decoded_pieces(path, encoding)))
        found = False
        for block in html_blocks(root):
            found = True
            yield block
        if not found:
            raise BadFile("no text in the page once navigation and scripts are removed")

    return Document(path, "html", blocks)
