"""Parsing JSON and YAML with bounds on nesting and alias expansion, so hostile input is refused cheaply.

Every way a document enters newsbot (files, the watch folder, the API, an article's front matter)
parses through here: PyYAML and the json module put no bound on either, and a 108 KB YAML file of
aliases became a 200 MB row, 100,000 "[" a RecursionError traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import yaml

# A summary is four levels deep (document, topics, entry, tags), five inside a list of documents;
# far deeper input is an attack on the parsers' recursion (100,000 "[" overflows json.loads).
MAX_NESTING = 32
# YAML aliases repeat a node without repeating its text: 108 KB of aliases to one 100 KB string
# made a 200 MB row. What aliases add on top of the document's own length is bounded by this.
MAX_ALIAS_EXPANSION = 1_000_000


class TooComplex(ValueError):
    """A document nested too deeply or expanding too far to be a summary; the message says which."""


def too_deep() -> TooComplex:
    """Return the error for a document nested deeper than MAX_NESTING."""
    return TooComplex(f"too deeply nested (more than {MAX_NESTING} levels of lists and mappings)")


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing documents that nest too deeply or expand too far through aliases.

    PyYAML builds an alias as a reference to one shared object, so memory stays small while the
    document's *expanded* size (what validation walks and storage serialises) can be millions of
    times its text. The composer is where aliases and nesting are visible as nodes, so the sizes
    are counted there, before any Python object is built. Written by hand: neither PyYAML nor
    ruamel.yaml offers a limit on alias expansion or depth.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._sizes: dict[int, int] = {}  # id(node) -> expanded size, for nodes composed so far
        self._limit = len(stream) + MAX_ALIAS_EXPANSION

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            node = super().compose_node(parent, index)
            if node is not None and id(node) not in self._sizes:
                raise TooComplex(
                    "an alias refers to a list or mapping that contains it (a recursive document)"
                )
            return node
        collection = self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent)
        self._depth += collection
        if self._depth > MAX_NESTING:
            raise too_deep()
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= collection
        if node is not None:
            self._sizes[id(node)] = size = self._size(node)
            if size > self._limit:
                raise TooComplex(
                    f"its aliases expand it to more than {self._limit:,} characters "
                    f"(at most {MAX_ALIAS_EXPANSION:,} beyond its own length)"
                )
        return node

    def _size(self, node: yaml.Node) -> int:
        if isinstance(node, yaml.ScalarNode):
            return 1 + len(node.value)
        if isinstance(node, yaml.SequenceNode):
            return 1 + sum(self._sizes[id(child)] for child in node.value)
        return 1 + sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)


def load_yaml_all(text: str) -> Iterator[Any]:
    """Yield each document of a YAML stream; raise TooComplex past the bounds, yaml.YAMLError on bad syntax."""
    try:
        yield from yaml.load_all(text, Loader=_BoundedLoader)
    except RecursionError:
        raise too_deep() from None


def load_json(text: str) -> Any:
    """Parse JSON, turning the parser's RecursionError on absurd nesting into TooComplex.

    Moderate nesting is left to validation, which refuses a list or mapping wherever the format
    has none; walking every document to measure its depth cost a third of the parse time.
    """
    try:
        return json.loads(text)
    except RecursionError:
        raise too_deep() from None
