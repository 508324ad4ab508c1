"""Recipe expressions: sandboxed Jinja2 that renders native values, strictly.

Recipes are written by admins but run inside the hub next to every secret, so
templates run in Jinja2's immutable sandbox (no ``__class__`` walks, no
mutation of the event), see only ``event``, ``steps`` and ``recipe`` (never
the environment), and a missing field is an error naming the template rather
than a silent empty string that would write a blank into a CRM.

Values are native: ``"{{ event.data.customer }}"`` is the dict itself and
``"{{ 3 }}"`` the int 3. Unlike ``jinja2.nativetypes`` nothing is re-parsed
with ``literal_eval``: a phone number ``"0987"`` or an amount ``"1499.00"``
stays the string it was, since turning money into a float is exactly the
mistake this hub exists to avoid.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import nodes
from jinja2.environment import TemplateExpression
from jinja2.exceptions import SecurityError, TemplateSyntaxError
from jinja2.meta import find_undeclared_variables
from jinja2.nativetypes import NativeCodeGenerator, NativeTemplate
from jinja2.parser import Parser
from jinja2.runtime import ChainableUndefined, StrictUndefined, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from hub.errors import ConfigError
from hub.events import Event

__all__ = [
    "CONTEXT_NAMES",
    "Condition",
    "TemplateError",
    "compile_condition",
    "compile_template",
    "environment",
    "has_template",
    "make_context",
    "parse_expression",
    "parse_template",
    "render_value",
    "step_references",
    "unknown_names",
]

CONTEXT_NAMES = frozenset({"event", "steps", "recipe"})
"""The only variables a recipe template sees (besides the globals, e.g. ``now()``)."""

_MAX_REPEAT = 100_000  # longest string/list that ``*`` may build
_MAX_EXPONENT = 1_000  # largest exponent that ``**`` may use


class TemplateError(ConfigError):
    """A template failed while rendering (missing field, bad filter input, sandbox refusal).

    The message names the template (and where it sits in the recipe when known),
    so the dead-lettered step says which expression to fix.
    """


class _Missing(ChainableUndefined, StrictUndefined):
    """Strict, but chainable: ``a.b.c | default('x')`` works when ``a.b`` is absent.

    Every other use (output, comparison, ``bool``, iteration) raises, so a
    missing field can never render as an empty string.
    """

    __slots__ = ()


def _fail_undefined(value: Undefined) -> NoReturn:
    value._fail_with_undefined_error()
    raise AssertionError("unreachable")  # pragma: no cover - the call above raises


def _check_defined(value: Any) -> Any:
    """Raise for an undefined value, also inside a native list or dict result."""
    if isinstance(value, Undefined):
        _fail_undefined(value)
    if isinstance(value, dict):
        for item in value.values():
            _check_defined(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_defined(item)
    return value


def _concat(values: Iterable[Any]) -> Any:
    """One output node is returned as it is; several are joined as text.

    This replaces ``nativetypes.native_concat``, which ``literal_eval``s text and
    so would turn the string ``"1499.00"`` into a float.
    """
    parts = list(values)
    if not parts:
        return None
    if len(parts) == 1:
        return _check_defined(parts[0])
    return "".join(str(_check_defined(p)) for p in parts)


class _HubCodeGenerator(NativeCodeGenerator):
    """Native output that keeps a lone constant's type (``{{ 3 }}`` is 3, not "3")."""

    def _output_const_repr(self, group: Iterable[Any]) -> str:
        items = list(group)
        if len(items) == 1:
            return repr(items[0])
        return repr("".join(str(v) for v in items))


class _HubTemplate(NativeTemplate):
    """A native template whose result is assembled by ``_concat``."""

    def render(self, *args: Any, **kwargs: Any) -> Any:
        """Render to a native value (see ``_concat``)."""
        ctx = self.new_context(dict(*args, **kwargs))
        try:
            return _concat(self.root_render_func(ctx))
        except Exception:  # noqa: BLE001 - Jinja's own error translation
            return self.environment.handle_exception()


class HubEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox (immutable: templates cannot change the event) with native output."""

    code_generator_class = _HubCodeGenerator
    template_class = _HubTemplate
    # ``*`` and ``**`` can build huge values from a short template; check them.
    intercepted_binops = frozenset({"*", "**"})

    def getattr(self, obj: Any, attribute: str) -> Any:
        """Keys before attributes for dicts: ``event.data.items`` is the field, not a method."""
        if isinstance(obj, dict) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        """Refuse repetitions and powers big enough to exhaust memory or CPU."""
        if (
            operator_ == "**"
            and isinstance(right, int | Decimal)
            and abs(Decimal(right)) > _MAX_EXPONENT
        ):
            raise SecurityError(f"exponent {right} is larger than {_MAX_EXPONENT}")
        if operator_ == "*":
            for seq, count in ((left, right), (right, left)):
                if (
                    isinstance(seq, str | list | tuple)
                    and isinstance(count, int)
                    and len(seq) * count > _MAX_REPEAT
                ):
                    raise SecurityError(f"'*' would build more than {_MAX_REPEAT} items")
        return super().call_binop(context, operator_, left, right)


# --- filters -----------------------------------------------------------------


def _filter_decimal(value: Any) -> Decimal:
    """Read a number exactly: floats go through ``str`` so 0.1 stays 0.1."""
    if isinstance(value, Undefined):
        _fail_undefined(value)
    if isinstance(value, bool):
        raise ValueError(f"decimal: {value!r} is a boolean, not a number")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"decimal: {value!r} is not a number") from None
        if not result.is_finite():
            raise ValueError(f"decimal: {value!r} is not a finite number")
        return result
    raise ValueError(f"decimal: cannot read a {type(value).__name__} as a number")


def _filter_money(value: Any) -> str:
    """A 2-decimal string (``"1499.00"``), rounding half up as invoices do."""
    amount = _filter_decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{amount:f}"


def _filter_paise(value: Any) -> str:
    """Minor units (Razorpay's integer paise) as a major-unit string: 149900 -> ``"1499.00"``."""
    if isinstance(value, Undefined):
        _fail_undefined(value)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"paise: expected a whole number of paise, got {value!r}")
    try:
        minor = int(value)
    except ValueError:
        raise ValueError(f"paise: {value!r} is not a whole number of paise") from None
    return f"{(Decimal(minor) / 100).quantize(Decimal('0.01')):f}"


def _filter_digits(value: Any) -> str:
    """Only the ASCII digits (phone numbers: ``"+91 98765-43210"`` -> ``"919876543210"``)."""
    if isinstance(value, Undefined):
        _fail_undefined(value)
    return "".join(ch for ch in str(value) if ch in "0123456789")


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _filter_json(value: Any, indent: int | None = None) -> str:
    """JSON text without HTML escaping (Jinja's ``tojson`` escapes ``<>&'``)."""
    _check_defined(value)
    return json.dumps(value, ensure_ascii=False, indent=indent, default=_json_default)


def _filter_local_date(value: Any, tz: str = "Asia/Kolkata") -> str:
    """The calendar date (``yyyy-mm-dd``) of a timestamp in time zone ``tz``.

    Events carry UTC times; books are kept in local dates. A payment at 00:30
    IST is 19:00 UTC the day before, so ``created_at[:10]`` would book it on
    the wrong day (and, at month-end, in the wrong month).
    """
    _check_defined(value)
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"local_date: {value!r} is not an ISO 8601 timestamp") from None
    else:
        raise ValueError(f"local_date: expected a timestamp, got {type(value).__name__}")
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"local_date: unknown time zone {tz!r} (use an IANA name like Asia/Kolkata)"
        ) from None
    return when.astimezone(zone).date().isoformat()


def _now() -> datetime:
    """The current time, aware in UTC."""
    return datetime.now(UTC)


def _build_environment() -> HubEnvironment:
    env = HubEnvironment(undefined=_Missing, autoescape=False, keep_trailing_newline=True)
    env.filters.update(
        {
            "decimal": _filter_decimal,
            "money": _filter_money,
            "paise": _filter_paise,
            "digits": _filter_digits,
            "json": _filter_json,
            "local_date": _filter_local_date,
        }
    )
    env.globals["now"] = _now
    return env


_ENV = _build_environment()


def environment() -> HubEnvironment:
    """The shared environment (filters and globals are set once, at import)."""
    return _ENV


# --- compiling and rendering -------------------------------------------------


def has_template(value: object) -> bool:
    """True for a string with ``{{`` or ``{%`` in it: only those are rendered."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _syntax_message(source: str, exc: TemplateSyntaxError) -> str:
    where = f" (template line {exc.lineno})" if exc.lineno and "\n" in source.strip() else ""
    return f"invalid template {source!r}: {exc.message}{where}"


@functools.lru_cache(maxsize=2048)
def compile_template(source: str) -> _HubTemplate:
    """Compile a template once (cached: the runner renders the same ones all day).

    Raises:
        ConfigError: the template's syntax is wrong, with Jinja's message.
    """
    try:
        template = _ENV.from_string(source)
    except TemplateSyntaxError as exc:
        raise ConfigError(_syntax_message(source, exc)) from None
    assert isinstance(template, _HubTemplate)
    return template


def parse_template(source: str) -> nodes.Template:
    """The Jinja AST of a template (for static checks such as ``step_references``).

    Raises:
        ConfigError: the template's syntax is wrong.
    """
    try:
        return _ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise ConfigError(_syntax_message(source, exc)) from None


def parse_expression(expr: str) -> nodes.Template:
    """The Jinja AST of a bare expression (``where:``/``if:``), wrapped as a template.

    Raises:
        ConfigError: the expression's syntax is wrong.
    """
    try:
        parser = Parser(_ENV, expr, state="variable")
        node = parser.parse_expression()
        if not parser.stream.eos:
            token = parser.stream.current
            raise TemplateSyntaxError(
                f"unexpected {token.value!r} after the expression", token.lineno, None, None
            )
    except TemplateSyntaxError as exc:
        raise ConfigError(f"invalid expression {expr!r}: {exc.message}") from None
    tree = nodes.Template([nodes.Output([node])], lineno=1)
    tree.set_environment(_ENV)  # meta.find_undeclared_variables compiles it
    return tree


def _is_steps(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Name) and node.name == "steps"


def step_references(tree: nodes.Node) -> list[str]:
    """Step ids a template reads, as ``steps.x``, ``steps['x']`` or ``steps["x"]``, in order."""
    found: list[str] = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getattr) and _is_steps(node.node):
            found.append(node.attr)
        elif (
            isinstance(node, nodes.Getitem)
            and _is_steps(node.node)
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, str)
        ):
            found.append(node.arg.value)
    return list(dict.fromkeys(found))


def unknown_names(tree: nodes.Template, allowed: Iterable[str] = CONTEXT_NAMES) -> list[str]:
    """Free variables that are neither context names nor globals (``env``, typos), sorted."""
    known = set(allowed) | set(_ENV.globals)
    return sorted(find_undeclared_variables(tree) - known)


def _describe(source: str, where: str) -> str:
    return f"{where}: {source!r}" if where else repr(source)


def _render_string(source: str, context: Mapping[str, Any], where: str) -> Any:
    template = compile_template(source)
    try:
        return template.render(context)
    except SecurityError as exc:
        raise TemplateError(
            f"{_describe(source, where)}: not allowed in the sandbox: {exc}"
        ) from exc
    except Exception as exc:  # any failure of a recipe's template is its author's
        raise TemplateError(f"{_describe(source, where)}: {exc}") from exc


def render_value(value: Any, context: Mapping[str, Any], where: str = "") -> Any:
    """Render every template inside ``value`` (dicts and lists are walked).

    Strings without ``{{``/``{%`` come back unchanged; a string that is one
    ``{{ expr }}`` yields the expression's native value (int, dict, Decimal...).

    Args:
        value: a step's ``with`` mapping, or any part of it.
        context: see ``make_context``.
        where: the value's path in the recipe (``steps[0].with``), for messages.

    Raises:
        ConfigError: a template does not compile.
        TemplateError: a template fails while rendering.
    """
    if isinstance(value, str):
        return _render_string(value, context, where) if has_template(value) else value
    if isinstance(value, dict):
        return {
            key: render_value(item, context, f"{where}.{key}" if where else str(key))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [render_value(item, context, f"{where}[{i}]") for i, item in enumerate(value)]
    return value


Condition = Callable[[Mapping[str, Any]], bool]
"""A compiled ``where:``/``if:``: context in, truth out (raises ``TemplateError``)."""


@functools.lru_cache(maxsize=1024)
def _compile_expression(expr: str) -> TemplateExpression:
    """Compiled once per distinct expression (the runner asks again on every attempt)."""
    try:
        return _ENV.compile_expression(expr, undefined_to_none=False)
    except TemplateSyntaxError as exc:
        raise ConfigError(f"invalid expression {expr!r}: {exc.message}") from None


def compile_condition(expr: str, where: str = "") -> Condition:
    """Compile a bare expression such as ``event.data.amount | decimal >= 500``.

    Args:
        expr: the expression, without ``{{ }}``.
        where: its path in the recipe (``trigger.where``), for messages.

    Returns:
        A callable that evaluates the expression against a context and returns
        its truth; a missing field raises rather than counting as false.

    Raises:
        ConfigError: the expression does not compile.
    """
    compiled = _compile_expression(expr)

    def condition(context: Mapping[str, Any]) -> bool:
        try:
            return bool(_check_defined(compiled(**context)))
        except SecurityError as exc:
            raise TemplateError(
                f"{_describe(expr, where)}: not allowed in the sandbox: {exc}"
            ) from exc
        except Exception as exc:  # any failure of a recipe's expression
            raise TemplateError(f"{_describe(expr, where)}: {exc}") from exc

    return condition


def make_context(
    event: Event, steps: Mapping[str, Any] | None = None, recipe_name: str = ""
) -> dict[str, Any]:
    """The variables a step's templates see: ``event``, earlier ``steps``, ``recipe``.

    No ``env``: secrets come from connections, never from recipes.
    """
    return {
        "event": event.to_dict(),
        "steps": dict(steps or {}),
        "recipe": {"name": recipe_name},
    }
