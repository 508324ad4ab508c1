"""``hub connector new``: write a new connector package that passes its contract tests as generated.

The templates live beside this module (``templates/<part>/...*.tmpl``) and are
rendered with ``string.Template``: ``$name``/``${module}`` placeholders, ``$$``
for a literal dollar sign, and an unknown placeholder is an error rather than
text in the output. A template's path is its output path with ``__module__``
standing for the import package (``hub_acmepay``) and ``.tmpl`` dropped; files
ending ``.partial.tmpl`` are pieces that other templates include.

Each kind is rendered from the folders ``PARTS`` lists: ``common`` (the
project files), ``payments`` (the payment mapping that webhook and polling
sources share) and the kind's own:

- ``webhook``: a signed-webhook source and two sample payloads;
- ``polling``: a polling source and the small vendor sandbox its tests seed;
- ``action``: a sink action and a sandbox with the ``/__sandbox__`` control routes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template
from typing import Final

from hub import __version__
from hub.errors import ConfigError

__all__ = ["KINDS", "PARTS", "Names", "default_dest", "scaffold", "validate_name"]

KINDS: Final = ("webhook", "polling", "action")
#: The template folders each kind is made of, in order (a later one may override a file).
PARTS: Final[dict[str, tuple[str, ...]]] = {
    "webhook": ("common", "payments", "webhook"),
    "polling": ("common", "payments", "polling"),
    "action": ("common", "action"),
}
NAME_PATTERN: Final = re.compile(r"^[a-z][a-z0-9_]*$")
#: Longer names make class names that overflow the generated code's 100-column lines.
MAX_NAME: Final = 30
MODULE_PLACEHOLDER: Final = "__module__"
SUFFIX: Final = ".tmpl"
PARTIAL: Final = ".partial.tmpl"


@dataclass(frozen=True, slots=True)
class Names:
    """Every spelling of a connector's name that the templates use.

    For ``acme_pay``: the project (and default directory) is ``hub-acme-pay``, the
    module ``hub_acme_pay``, classes start ``AcmePay``, headers read ``X-Acme-Pay-...``
    and environment variables ``ACME_PAY_...``.
    """

    name: str
    kind: str

    @property
    def module(self) -> str:
        """The import package: ``hub_acmepay``."""
        return f"hub_{self.name}"

    @property
    def project(self) -> str:
        """The distribution name on PyPI: ``hub-acmepay``."""
        return f"hub-{self.name.replace('_', '-')}"

    @property
    def words(self) -> list[str]:
        return self.name.split("_")

    def variables(self) -> dict[str, str]:
        """The placeholders of every template, by name."""
        cls = "".join(w.capitalize() for w in self.words)
        return {
            "name": self.name,
            "kind": self.kind,
            "module": self.module,
            "project": self.project,
            "title": " ".join(w.capitalize() for w in self.words),
            "cls": cls,
            "header": "-".join(w.capitalize() for w in self.words),
            "env": self.name.upper(),
            "hub_version": __version__,
            # ``__all__`` of an action package, sorted as ruff's RUF022 wants it.
            "action_exports": _exports(f"{cls}Config", "ContactIn", "CreateContact", "connector"),
        }


def _exports(*names: str) -> str:
    """The lines inside a sorted ``__all__`` list: constants, classes, the rest."""
    order = sorted(names, key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n))
    return "\n".join(f'    "{n}",' for n in order)


def validate_name(name: str) -> str:
    """The connector slug, checked: lower case, ``[a-z][a-z0-9_]*``, no ``__`` or trailing ``_``.

    Raises:
        ConfigError: the name cannot be a connector slug, saying why and what would do.
    """
    if not NAME_PATTERN.match(name):
        raise ConfigError(
            f"connector name {name!r} is not a slug: use lower-case letters, digits and "
            "underscores, starting with a letter (e.g. acmepay or acme_pay)"
        )
    if "__" in name or name.endswith("_"):
        raise ConfigError(
            f"connector name {name!r} has a doubled or trailing underscore: "
            "separate words with one underscore (e.g. acme_pay)"
        )
    if len(name) > MAX_NAME:
        raise ConfigError(f"connector name {name!r} is longer than {MAX_NAME} characters")
    return name


def scaffold(name: str, kind: str, dest: Path | None = None, *, force: bool = False) -> list[Path]:
    """Write a new connector package for ``name`` into ``dest`` and return the files written.

    Args:
        name: the connector slug (``acmepay``); the package is ``hub_<name>``.
        kind: ``webhook``, ``polling`` or ``action``.
        dest: the project directory to create (default: ``./hub-<name>``).
        force: write into an existing, non-empty ``dest``, overwriting the files the
            scaffold writes (other files there are left alone).

    Raises:
        ConfigError: a bad name or kind, or ``dest`` exists and ``force`` is not set.
    """
    names = Names(validate_name(name), _validate_kind(kind))
    target = dest if dest is not None else default_dest(name)
    _check_dest(target, force)
    variables = names.variables()
    root = resources.files(__package__ or "hub.scaffold") / "templates"
    variables["kind_readme"] = _render(root / kind / f"readme{PARTIAL}", variables).rstrip()
    written: list[Path] = []
    for part in PARTS[kind]:
        for relative, template in _templates(root / part):
            out = target / relative.replace(MODULE_PLACEHOLDER, names.module)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(_render(template, variables), encoding="utf-8")
            written.append(out)
    return sorted(written)


def default_dest(name: str) -> Path:
    """Where ``hub connector new NAME`` writes without ``--dir``: ``./hub-<name>``."""
    return Path(Names(name, "").project)


def _validate_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ConfigError(f"unknown connector kind {kind!r}: use one of {', '.join(KINDS)}")
    return kind


def _check_dest(target: Path, force: bool) -> None:
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{target} exists and is not a directory: choose another --dir")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise ConfigError(
            f"{target} already exists and is not empty: choose another --dir, "
            "or pass --force to overwrite the generated files"
        )


def _templates(folder: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    """The templates under ``folder`` as (output path relative to the project, file)."""
    found: list[tuple[str, Traversable]] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            found.extend(_templates(entry, f"{prefix}{entry.name}/"))
        elif entry.name.endswith(SUFFIX) and not entry.name.endswith(PARTIAL):
            found.append((prefix + entry.name.removesuffix(SUFFIX), entry))
    return found


def _render(template: Traversable, variables: dict[str, str]) -> str:
    try:
        return Template(template.read_text(encoding="utf-8")).substitute(variables)
    except (KeyError, ValueError) as exc:  # a broken template is a bug in the hub
        raise RuntimeError(f"scaffold template {template.name} is broken: {exc}") from exc
