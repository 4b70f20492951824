"""A run's timeline as SVG: one row per step, a bar from when it started to when it finished.

Steps that ran at the same time have bars over the same stretch of the axis, so the
picture shows at once what ran in parallel and what waited. The HTML report draws it
here; the dashboard draws the same rows live in ``draw.js`` (``drawTimeline``, same
geometry and colours), since its bars grow while steps run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Sequence

from orchestrator_core.display.dag import STYLES
from orchestrator_core.display.durations import format_duration

ROW = 20
BAR = 12
LABEL_CHAR_PX = 6.7  # 11 px monospace
LABEL_MAX = 220
AXIS = 22
PAD = 8
RIGHT = 28  # room for the last tick's label


def label_width(names: Sequence[str]) -> float:
    """Room for the step names left of the bars: the longest name, within bounds."""
    return min(LABEL_MAX, max(60.0, max((len(n) for n in names), default=0) * LABEL_CHAR_PX + 12))


@dataclass(frozen=True)
class Span:
    """One step on the timeline: ``start`` and ``end`` in seconds (Unix time); no bar when unknown."""

    step: str
    style: str
    start: float | None = None
    end: float | None = None


def nice_step(span_ms: float) -> float:
    """A round tick interval giving about six ticks over ``span_ms``."""
    rough = span_ms / 6
    power = 10 ** math.floor(math.log10(rough)) if rough > 0 else 1
    return next((m * power for m in (1, 2, 5, 10) if m * power >= rough), power * 10)


def draw_timeline(spans: Sequence[Span], started: float, finished: float, *, width: int = 900) -> str:
    """An ``<svg>`` of ``spans`` between ``started`` and ``finished`` (seconds), ``width`` pixels wide."""
    span_ms = max((finished - started) * 1000, 1.0)
    label = label_width([span.step for span in spans])
    chart = width - label - PAD - RIGHT

    def x(seconds: float) -> float:
        return label + PAD + (seconds - started) * 1000 / span_ms * chart

    height = AXIS + len(spans) * ROW + PAD
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" font-size="11" '
             f'font-family="ui-monospace, SFMono-Regular, Menlo, Consolas, monospace" '
             f'aria-label="when each step ran">']
    tick = nice_step(span_ms)
    count = int(span_ms // tick)
    for i in range(count + 1):
        px = x(started + i * tick / 1000)
        parts.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{AXIS - 4}" y2="{height}" stroke="#eaeef2"/>'
                     f'<text x="{px:.1f}" y="{AXIS - 8}" text-anchor="middle" fill="#57606a">'
                     f'{format_duration(i * tick) if i else "0"}</text>')
    for row, span in enumerate(spans):
        y = AXIS + row * ROW
        name = escape(span.step)
        parts.append(f'<g class="row" data-step="{name}" data-status="{escape(span.style)}">'
                     f'<text x="{label - 4:.1f}" y="{y + ROW / 2:.1f}" text-anchor="end" dominant-baseline="middle">'
                     f'{name}</text>')
        if span.start is not None and span.end is not None:
            x1 = x(span.start)
            x2 = max(x(span.end), x1 + 2)
            took = format_duration((span.end - span.start) * 1000)
            parts.append(f'<rect class="bar" x="{x1:.1f}" y="{y + (ROW - BAR) / 2:.1f}" width="{x2 - x1:.1f}" '
                         f'height="{BAR}" rx="3" fill="{STYLES.get(span.style, STYLES["plan"])[1]}">'
                         f'<title>{name}: {took}, from +{format_duration((span.start - started) * 1000)}</title>'
                         f'</rect>')
        parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts)
