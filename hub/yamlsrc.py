"""Safe YAML loading that remembers where every value came from (recipes and ``hub.yaml``).

A person fixing a recipe needs ``file:line`` for each mistake, and all of them
at once, so loading is split in two: ``parse_yaml`` composes the node tree
with ``yaml.SafeLoader`` (no arbitrary objects), records the line of every
path, collects the problems PyYAML would silently accept (YAML 1.1 boolean
keys, duplicate keys), and then constructs plain Python data. Callers that
validate further (``hub.recipes``) keep going after those problems;
``load_yaml`` raises them all in one ``YamlError``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from hub.errors import ConfigError

__all__ = [
    "LineMap",
    "Path",
    "Problem",
    "YamlDocument",
    "YamlError",
    "format_path",
    "load_yaml",
    "parse_yaml",
]

Path = tuple[str | int, ...]
"""Where a value sits in a document: mapping keys and list indexes, outermost first."""

_BOOL_TAG = "tag:yaml.org,2002:bool"
_STR_TAG = "tag:yaml.org,2002:str"
# PyYAML resolves on/off/yes/no/true/false as booleans; y/n are booleans in
# YAML 1.1 too (other tools read them so), so a plain key like that is ambiguous.
_YAML11_BOOL_WORDS = frozenset({"on", "off", "yes", "no", "y", "n", "true", "false"})


def format_path(path: Iterable[str | int]) -> str:
    """``('steps', 0, 'with', 'email')`` as ``steps[0].with.email`` (how people read it)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass(frozen=True, slots=True)
class Problem:
    """One mistake in a file, located precisely enough to fix it without searching.

    Attributes:
        file: the file name as given to the loader.
        line: 1-based line (0 when the file could not be read at all).
        path: where in the document, like ``steps[0].with.email`` ("" for the whole file).
        message: what is wrong and, when it can tell, what was probably meant.
    """

    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class YamlError(ConfigError):
    """A file has problems; ``problems`` lists every one (``str`` shows one per line).

    Args:
        problems: what was found, in file order.
    """

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)  # keeps the exception picklable
        self.problems = problems

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


class LineMap:
    """The source line of every path in one document.

    Lookups fall back to the nearest recorded parent, so the line of a missing
    key is the line of the mapping that should contain it.
    """

    def __init__(self, lines: dict[Path, int] | None = None) -> None:
        self._lines: dict[Path, int] = dict(lines or {})

    def line(self, path: Path) -> int:
        """1-based line of ``path`` (or of its nearest ancestor; 1 if nothing is known)."""
        probe = tuple(path)
        while True:
            found = self._lines.get(probe)
            if found is not None:
                return found
            if not probe:
                return 1
            probe = probe[:-1]

    def __contains__(self, path: object) -> bool:
        return path in self._lines


@dataclass(frozen=True, slots=True)
class YamlDocument:
    """What ``parse_yaml`` found: the data (None after a syntax error), lines and problems."""

    data: Any
    lines: LineMap
    problems: list[Problem]


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _scan(node: Node, filename: str) -> tuple[dict[Path, int], list[Problem]]:
    """Record lines and find ambiguous or duplicate keys, visiting each node once.

    Visiting each node once (aliases share nodes) keeps a malicious document of
    nested aliases from making this walk exponential.
    """
    lines: dict[Path, int] = {(): _line(node)}
    problems: list[Problem] = []
    seen: set[int] = set()
    stack: list[tuple[Node, Path]] = [(node, ())]
    while stack:
        current, path = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, MappingNode):
            first_line: dict[str, int] = {}
            for key_node, value_node in current.value:
                if not isinstance(key_node, ScalarNode):
                    continue  # complex keys: nothing sensible to name in a path
                key = str(key_node.value)
                if key_node.style is None and key.lower() in _YAML11_BOOL_WORDS:
                    problems.append(
                        Problem(
                            filename,
                            _line(key_node),
                            format_path((*path, key)),
                            f"key '{key}' is read as a boolean by YAML 1.1; quote it",
                        )
                    )
                    # Keep the key a string so later checks name it as written.
                    if key_node.tag == _BOOL_TAG:
                        key_node.tag = _STR_TAG
                if key == "<<" and key_node.tag == "tag:yaml.org,2002:merge":
                    stack.append((value_node, path))
                    continue
                if key in first_line:
                    problems.append(
                        Problem(
                            filename,
                            _line(key_node),
                            format_path((*path, key)),
                            f"duplicate key '{key}' (first at line {first_line[key]})",
                        )
                    )
                    continue
                first_line[key] = _line(key_node)
                child: Path = (*path, key)
                # The key's line, not the value's: a block value starts a line later.
                lines[child] = _line(key_node)
                stack.append((value_node, child))
        elif isinstance(current, SequenceNode):
            for index, item in enumerate(current.value):
                child = (*path, index)
                lines[child] = _line(item)
                stack.append((item, child))
    problems.sort(key=lambda p: p.line)
    return lines, problems


def _syntax_problem(exc: yaml.YAMLError, filename: str) -> Problem:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        what = exc.problem or "invalid YAML"
        context = f" ({exc.context})" if exc.context else ""
        return Problem(
            filename,
            int(mark.line) + 1,
            "",
            f"YAML syntax error: {what}{context} at line {mark.line + 1}, column {mark.column + 1}",
        )
    return Problem(filename, 1, "", f"YAML error: {exc}")


def parse_yaml(text: str, filename: str) -> YamlDocument:
    """Parse one YAML document safely, keeping lines and collecting problems.

    Ambiguous and duplicate keys are reported but the data is still built
    (PyYAML keeps the last of duplicate keys; the file is rejected anyway), so
    a validator can report later mistakes in the same pass.

    Args:
        text: the document.
        filename: used in every ``Problem``.

    Returns:
        The data (None for an empty document or after a syntax error), the line
        map and the problems found.
    """
    loader = yaml.SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.YAMLError as exc:
            return YamlDocument(None, LineMap(), [_syntax_problem(exc, filename)])
        if node is None:
            return YamlDocument(None, LineMap(), [])
        lines, problems = _scan(node, filename)
        try:
            data = loader.construct_document(node)
        except yaml.YAMLError as exc:
            return YamlDocument(None, LineMap(lines), [*problems, _syntax_problem(exc, filename)])
        return YamlDocument(data, LineMap(lines), problems)
    finally:
        loader.dispose()


def load_yaml(text: str, filename: str) -> tuple[Any, LineMap]:
    """Parse one YAML document safely; any problem at all is an error.

    Args:
        text: the document.
        filename: used in error messages.

    Returns:
        The data and the line of every path in it.

    Raises:
        YamlError: syntax errors, YAML 1.1 boolean keys or duplicate keys, all of them.
    """
    doc = parse_yaml(text, filename)
    if doc.problems:
        raise YamlError(doc.problems)
    return doc.data, doc.lines
