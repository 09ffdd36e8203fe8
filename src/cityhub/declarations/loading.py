"""Reading declaration files: YAML with the line of every value, and problems that
name the file, the path inside it, the line and what is wrong.

A problem is data, not an exception: a broken declaration disables what it
declares and is reported (``cityhub check``, an Airflow import error), while the
rest of the hub goes on.
"""
from __future__ import annotations

import importlib.resources
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser where PyYAML was built with it: the declarations parse in a fraction of the time."""


def packaged_root() -> Path:
    """The declarations installed with the hub (``schemas/`` of the source tree)."""
    return Path(str(importlib.resources.files("cityhub.schemas")))


class Declared(BaseModel):
    """Base of every declaration model: unknown keys and wrong types are refused."""
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


@dataclass(frozen=True)
class Problem:
    file: str
    """Relative to the declarations folder, e.g. ``contracts/key_areas.yaml``."""
    path: str
    """Where inside the file, e.g. ``fields[4].rules[0]`` (empty: the whole file)."""
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


Loc = tuple[str | int, ...]


def render(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class Document:
    """One YAML file: its data, and the nodes behind it (for lines and flow style)."""

    def __init__(self, root: Path, file: Path):
        self.file = file.relative_to(root).as_posix() if file.is_relative_to(root) else str(file)
        self.node = yaml.compose(file.read_text(encoding="utf-8"), Loader=_LOADER)
        self._constructor = yaml.SafeLoader("")
        self.data = self._constructor.construct_document(self.node) if self.node else None

    def _matches(self, key: yaml.Node, part) -> bool:
        """Whether a mapping key's node is the key ``part`` of the data (``000`` is the key 0)."""
        if key.value == str(part):
            return True
        try:
            return str(self._constructor.construct_object(key)) == str(part)
        except yaml.YAMLError:
            return False

    def _entry(self, loc: Loc) -> tuple[yaml.Node, yaml.Node] | None:
        """The (key, value) nodes of the mapping entry at ``loc``."""
        parent = self._node(loc[:-1])
        if not isinstance(parent, yaml.MappingNode):
            return None
        return next(((k, v) for k, v in parent.value if self._matches(k, loc[-1])), None)

    def key_text(self, loc: Loc) -> str:
        """The key at ``loc`` as the file spells it."""
        entry = self._entry(loc) if loc else None
        return entry[0].value if entry else str(loc[-1])

    def _node(self, loc: Loc):
        node = self.node
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                node = next((v for k, v in node.value if self._matches(k, part)), None)
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
            else:
                return None
            if node is None:
                return None
        return node

    def line(self, loc: Loc) -> int | None:
        """The line a value (or, failing that, its nearest parent) starts on."""
        for n in range(len(loc), -1, -1):
            node = self._node(loc[:n])
            if node is not None:
                return node.start_mark.line + 1
        return None

    def problem(self, loc: Loc, message: str) -> Problem:
        return Problem(self.file, render(loc), message, self.line(loc))

    def comma_split(self, loc: Loc) -> bool:
        """Whether the key at ``loc`` is the tail of a value cut short by a comma in a
        flow mapping (``{reason: level must be 1, 2, 3}`` reads as keys ``2`` and ``3``)."""
        parent = self._node(loc[:-1])
        entry = self._entry(loc)
        if not isinstance(parent, yaml.MappingNode) or not parent.flow_style or entry is None:
            return False
        value = entry[1]
        return isinstance(value, yaml.ScalarNode) and value.value == "" and value.tag.endswith(":null")


def problems_from(error: ValidationError, doc: Document, base: Loc = ()) -> list[Problem]:
    """A pydantic error as problems, one per thing wrong, in the file's terms."""
    out = []
    for e in error.errors(include_url=False):
        loc = base + tuple(p for p in e["loc"] if not _is_tag(p))
        kind, msg = e["type"], e["msg"]
        if kind in ("extra_forbidden", "invalid_key"):
            loc = loc[:-1] + (doc.key_text(loc),)  # the key as the file spells it, even one YAML read as a number
            key = loc[-1]
            if doc.comma_split(loc):
                msg = (f"unknown key {key!r}: a comma inside {{...}} ends the text before it; "
                       "quote the whole text")
            else:
                msg = f"unknown key {key!r}"
        elif kind == "unknown_kind":
            given = e.get("input")
            if isinstance(given, dict) and "kind" in given:
                got = repr(given["kind"])  # a misspelt kind: name it
            else:
                got = sorted(map(str, given)) if isinstance(given, dict) else given
            msg = f"{msg}; got {got}"
        elif kind == "missing":
            msg = "required, missing"
        elif "input" in e and not isinstance(e["input"], (dict, list)):
            msg = f"{msg} (got {e['input']!r})"
        out.append(doc.problem(loc, msg))
    return out


def _is_tag(part) -> bool:
    """Pydantic puts a discriminated union's tag into ``loc``; ours are spelt ``<kind>``
    so they are told apart from the file's keys."""
    return isinstance(part, str) and part.startswith("<")


def validate(model: type[BaseModel], data: Any, doc: Document, base: Loc = (),
             context: dict | None = None) -> tuple[Any, list[Problem]]:
    """``model`` from ``data`` (found at ``base`` in ``doc``), or None and the problems."""
    try:
        return model.model_validate(data, context=context), []
    except ValidationError as e:
        return None, problems_from(e, doc, base)


def read(root: Path, files: Iterable[Path]) -> tuple[list[Document], list[Problem]]:
    """The files as documents; a file that is not YAML at all is one problem."""
    docs, problems = [], []
    for f in files:
        try:
            docs.append(Document(root, f))
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            rel = f.relative_to(root).as_posix() if f.is_relative_to(root) else str(f)
            problems.append(Problem(rel, "", f"not valid YAML: {getattr(e, 'problem', None) or e}",
                                    mark.line + 1 if mark else None))
        except (OSError, UnicodeDecodeError) as e:
            problems.append(Problem(str(f), "", f"cannot be read: {e}"))
    return docs, problems


def fold(text: str | None) -> str:
    """Folded prose (YAML ``>`` blocks) as one line."""
    return " ".join(str(text or "").split())


def names(items: Sequence[str]) -> str:
    return ", ".join(items) if items else "none"
