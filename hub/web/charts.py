"""Chart geometry for inline SVG: stacked bars and lines over time buckets. Pure; no I/O.

The overview draws its charts on the server (``templates/macros.html`` turns
a ``Chart`` into ``<svg>``), so there is no chart library and no JavaScript:
each bar carries a ``<title>`` with its exact figures, which browsers show on
hover. Scales are "nice" (1, 2, 5 x 10^n) so the gridlines read at a glance.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

__all__ = ["Bar", "Chart", "Line", "Segment", "Tick", "line_chart", "nice_ceiling", "stacked_bars"]

WIDTH, HEIGHT = 600.0, 160.0
LEFT, RIGHT, TOP, BOTTOM = 44.0, 8.0, 10.0, 20.0


@dataclass(frozen=True, slots=True)
class Segment:
    y: float
    height: float
    kind: str  # CSS class suffix: ok, retried, failed, events
    value: float


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    width: float
    segments: tuple[Segment, ...]
    title: str


@dataclass(frozen=True, slots=True)
class Line:
    kind: str
    label: str
    paths: tuple[str, ...]  # SVG polyline point lists, one per unbroken run of values


@dataclass(frozen=True, slots=True)
class Tick:
    pos: float
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    width: float
    height: float
    left: float
    top: float
    right: float
    bottom: float
    bars: tuple[Bar, ...]
    lines: tuple[Line, ...]
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    legend: tuple[tuple[str, str], ...]  # (kind, label)
    empty: bool


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5, 5 x 10^n at or above ``value`` (at least 1)."""
    if value <= 1:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        candidate = step * 10.0**exponent
        if candidate >= value - 1e-9:
            return candidate
    return 10.0 ** (exponent + 1)  # pragma: no cover - the loop always returns


def _y_ticks(top_value: float, fmt: Callable[[float], str]) -> tuple[Tick, ...]:
    plot_h = HEIGHT - TOP - BOTTOM
    return tuple(Tick(TOP + plot_h * (1 - f), fmt(top_value * f)) for f in (0.0, 0.5, 1.0))


def _x_ticks(starts: Sequence[datetime], every_seconds: int) -> tuple[Tick, ...]:
    if not starts:
        return ()
    step = (WIDTH - LEFT - RIGHT) / len(starts)
    fmt = "%H:%M"
    return tuple(
        Tick(LEFT + i * step, start.strftime(fmt))
        for i, start in enumerate(starts)
        if int(start.timestamp()) % every_seconds == 0
    )


def _count(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}k".replace(".0k", "k")
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _ms(value: float) -> str:
    return f"{value / 1000:g} s" if value >= 1000 else f"{value:.0f} ms"


def stacked_bars(
    title: str,
    starts: Sequence[datetime],
    stacks: Sequence[tuple[str, str, Sequence[float]]],
    tick_every: int,
    unit: str = "",
) -> Chart:
    """One bar per bucket, each ``(kind, label, values)`` stacked bottom-up in the given order."""
    n = len(starts)
    totals = [sum(values[i] for _, _, values in stacks) for i in range(n)]
    top_value = nice_ceiling(max(totals, default=0.0))
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(n, 1)
    gap = min(1.0, slot * 0.2)
    bars = []
    for i, start in enumerate(starts):
        base = HEIGHT - BOTTOM
        segments = []
        for kind, _, values in stacks:
            value = values[i]
            if value <= 0:
                continue
            h = plot_h * value / top_value
            base -= h
            segments.append(Segment(round(base, 2), round(h, 2), kind, value))
        parts = ", ".join(f"{values[i]:g} {label}" for _, label, values in stacks)
        bars.append(
            Bar(
                round(LEFT + i * slot + gap / 2, 2),
                round(slot - gap, 2),
                tuple(segments),
                f"{start.strftime('%H:%M')} UTC: {parts}{unit}",
            )
        )
    return Chart(
        title=title,
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        top=TOP,
        right=WIDTH - RIGHT,
        bottom=HEIGHT - BOTTOM,
        bars=tuple(bars),
        lines=(),
        y_ticks=_y_ticks(top_value, _count),
        x_ticks=_x_ticks(starts, tick_every),
        legend=tuple((kind, label) for kind, label, _ in stacks),
        empty=not any(totals),
    )


def line_chart(
    title: str,
    starts: Sequence[datetime],
    series: Sequence[tuple[str, str, Sequence[float | None]]],
    tick_every: int,
) -> Chart:
    """Lines in milliseconds (latency); a bucket without data breaks the line there."""
    n = len(starts)
    values = [v for _, _, vs in series for v in vs if v is not None]
    top_value = nice_ceiling(max(values, default=0.0))
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(n, 1)
    lines = []
    for kind, label, vs in series:
        paths: list[str] = []
        current: list[str] = []
        for i, v in enumerate(vs):
            if v is None:
                if current:
                    paths.append(" ".join(current))
                current = []
                continue
            x = LEFT + (i + 0.5) * slot
            y = HEIGHT - BOTTOM - plot_h * min(v, top_value) / top_value
            current.append(f"{x:.1f},{y:.1f}")
        if current:
            paths.append(" ".join(current))
        # A lone point draws nothing as a polyline: repeat it a hair to the right.
        paths = [p if " " in p else _widen(p, slot * 0.3) for p in paths]
        lines.append(Line(kind, label, tuple(paths)))
    bars = tuple(
        Bar(
            round(LEFT + i * slot, 2),
            round(slot, 2),
            (),
            f"{start.strftime('%H:%M')} UTC: "
            + ", ".join(f"{label} {_ms_or_none(vs[i])}" for _, label, vs in series),
        )
        for i, start in enumerate(starts)
    )
    return Chart(
        title=title,
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        top=TOP,
        right=WIDTH - RIGHT,
        bottom=HEIGHT - BOTTOM,
        bars=bars,
        lines=tuple(lines),
        y_ticks=_y_ticks(top_value, _ms),
        x_ticks=_x_ticks(starts, tick_every),
        legend=tuple((kind, label) for kind, label, _ in series),
        empty=not values,
    )


def _ms_or_none(value: float | None) -> str:
    return "no data" if value is None else _ms(value)


def _widen(point: str, half: float) -> str:
    x, y = point.split(",")
    return f"{float(x) - half:.1f},{y} {float(x) + half:.1f},{y}"
