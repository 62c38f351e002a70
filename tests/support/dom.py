"""A small DOM for tests, read from HTML with the standard library's parser: elements with
their attributes, children and text, and lookups by tag and attributes.

    page = parse(html_text)
    row = page.one("tr", data_manifest="calls")       # data_manifest -> data-manifest
    row.one("td", class_="done").text                 # class_ matches one of the classes
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

# Elements that never have children or an end tag.
VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)


@dataclass
class Element:
    """One element: its tag, attributes, children (elements and text) in order."""

    tag: str
    attrs: dict[str, str]
    children: list[Element | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """All the text inside, whitespace runs made one space, trimmed."""
        return " ".join("".join(self._texts()).split())

    def _texts(self) -> Iterator[str]:
        for child in self.children:
            if isinstance(child, str):
                yield child
            else:
                yield from child._texts()

    def iter(self) -> Iterator[Element]:
        """This element and every element inside, in document order."""
        yield self
        for child in self.children:
            if isinstance(child, Element):
                yield from child.iter()

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Element]:
        """Elements inside (or this one) with ``tag`` and ``attrs`` (``class_`` matches one
        class; ``data_x`` names ``data-x``)."""
        return [element for element in self.iter() if element._matches(tag, attrs)]

    def one(self, tag: str | None = None, **attrs: str) -> Element:
        """The only element matching; AssertionError when there are none or several."""
        found = self.find_all(tag, **attrs)
        assert len(found) == 1, f"{len(found)} elements match {tag} {attrs}"
        return found[0]

    def _matches(self, tag: str | None, attrs: dict[str, str]) -> bool:
        if tag is not None and self.tag != tag:
            return False
        for key, wanted in attrs.items():
            if key == "class_":
                if wanted not in self.attrs.get("class", "").split():
                    return False
            elif self.attrs.get(key.replace("_", "-")) != wanted:
                return False
        return True


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Element(tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        # Close up to the nearest open element of this tag (HTML lets some end tags go).
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(text: str) -> Element:
    """The document's tree."""
    builder = _Builder()
    builder.feed(text)
    builder.close()
    return builder.root
