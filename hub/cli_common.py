"""What every ``hub`` command module shares: the consoles, JSON output, failing cleanly.

Kept apart from ``hub.cli`` so command modules (``hub.cli_ops``) can import it
without importing ``hub.cli`` itself, which registers them: that cycle broke
``python -m hub.cli``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console

from hub.config import HubConfig
from hub.timeparse import parse_when

__all__ = ["_config", "_emit_json", "_fail", "_run", "_when", "err", "out"]

T = TypeVar("T")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


def _config(ctx: click.Context) -> HubConfig:
    cfg: HubConfig = ctx.obj["config"]
    return cfg


def _emit_json(doc: Any) -> None:
    click.echo(json.dumps(doc, indent=2, default=str, ensure_ascii=False))


def _fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    sys.exit(code)


def _when(value: str | None) -> Any:
    if value is None:
        return None
    try:
        return parse_when(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
