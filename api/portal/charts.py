"""Charts as inline SVG, drawn on the server: no script (the portal's CSP allows none), no style
attribute (only presentation attributes, which the CSP's ``style-src 'self'`` does not block), no
dependency. Each chart is a ``role="img"`` with a ``<title>`` and a ``<desc>`` that states every
value, and the page shows the same figures in a table beside it (the text alternative).

Why our own ~80 lines and not Altair, pygal or matplotlib: the charts are bar charts of a dozen
months, and each of those libraries emits style attributes or needs a renderer process; here
the output is small, deterministic (a test compares it) and safe under the CSP as it is.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Optional, Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 640, 260, 70, 40, 16
COLOURS = ("#7a1f1f", "#1a5fb4", "#1e6b34", "#8a4b00")  # the stylesheet's accent, focus, ok and warn
PAID_COLOURS = ("#1e6b34", "#8a4b00", "#a11d1d")  # on time, late, in arrears: ok, warn, danger
GRADE_COLOURS = {"AAA": "#1e6b34", "AA": "#3d7a2a", "A": "#1a5fb4", "B": "#8a4b00", "C": "#a11d1d"}  # best green


def _number(value) -> Decimal:
    try:
        return Decimal(str(value))
    except Exception:  # "<3" and None draw no bar
        return Decimal(0)


def _tick(value: Decimal) -> str:
    if value >= 10**8:
        return f"{value / 10**8:.1f}亿"
    if value >= 10**4:
        return f"{value / 10**4:.0f}万"
    if value >= 10:
        return f"{value:.0f}"
    return f"{value:.2f}".rstrip("0").rstrip(".")  # a small axis: 0, 0.25, 0.5… rather than 0, 0, 0, 1


def bar_chart(chart_id: str, title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence]],
              unit: str = "", stacked: bool = False, label_every: int = 1,
              colours: Sequence[str] = COLOURS, peak: Optional[Decimal] = None) -> Markup:
    """Grouped bars: one group per label (a month), one bar per series; ``stacked``: one bar per
    label with the series on top of each other (a month's amount coloured by how it was paid).
    Values that are not numbers ("<3", None) draw no bar and are named as such in the
    description. ``label_every``: name every n-th label under the axis (24 months do not fit).
    ``peak``: the axis' top when the scale is fixed (a score out of 100), else the largest bar."""
    if peak is None:
        peak = _largest(labels, series, stacked)
    plot_w, plot_h = WIDTH - LEFT - 10, HEIGHT - BOTTOM - TOP
    group = plot_w / max(len(labels), 1)
    bar = group * 0.8 / (1 if stacked else max(len(series), 1))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" class="chart" '
             f'aria-labelledby="{chart_id}-t {chart_id}-d">',
             f'<title id="{chart_id}-t">{escape(title)}</title>']
    described = "; ".join(f"{label}: " + ", ".join(f"{name} {values[i]}{unit if _is_number(values[i]) else ''}"
                                                   for name, values in series
                                                   if not stacked or values[i] is not None) for i, label in enumerate(labels))
    parts.append(f'<desc id="{chart_id}-d">{escape(described)}</desc>')
    for step in range(5):  # grid lines and their values
        y = TOP + plot_h - plot_h * step / 4
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#c9ced6" stroke-width="1"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#4d5663">'
                     f'{escape(_tick(peak * step / 4))}</text>')
    for i, label in enumerate(labels):
        x0 = LEFT + group * i + group * 0.1
        base = 0.0  # a stacked bar's top so far
        for s, (_name, values) in enumerate(series):
            height = float(_number(values[i]) / peak) * plot_h
            x = x0 if stacked else x0 + bar * s
            parts.append(f'<rect x="{x:.1f}" y="{TOP + plot_h - base - height:.1f}" width="{bar * 0.9:.1f}" '
                         f'height="{height:.1f}" fill="{colours[s % len(colours)]}"/>')
            base += height if stacked else 0.0
        if i % label_every == 0:
            parts.append(f'<text x="{LEFT + group * (i + 0.5):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
                         f'font-size="11" fill="#1b1f24">{escape(label)}</text>')
    for s, (name, _values) in enumerate(series):  # the legend, under the months
        x = LEFT + s * 150
        parts.append(f'<rect x="{x}" y="{HEIGHT - 14}" width="10" height="10" fill="{colours[s % len(colours)]}"/>')
        parts.append(f'<text x="{x + 14}" y="{HEIGHT - 5}" font-size="11" fill="#1b1f24">{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


NICE_STEPS = (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)  # a grid step is one of these times a power of ten


def _largest(labels: Sequence[str], series: Sequence[tuple[str, Sequence]], stacked: bool) -> Decimal:
    """The axis' top: the tallest bar (a stacked bar's whole height) rounded up so that each of
    the four grid steps is a round number (whole for counts), at least 1 for an empty chart."""
    if stacked:
        bars = [sum((_number(values[i]) for _n, values in series), Decimal(0)) for i in range(len(labels))]
    else:
        bars = [_number(v) for _name, values in series for v in values]
    tallest = max(bars + [Decimal(1)])
    step = tallest / 4
    magnitude = Decimal(10) ** step.adjusted()
    step = next(Decimal(str(m)) * magnitude for m in NICE_STEPS if Decimal(str(m)) * magnitude >= step)
    if all(bar == bar.to_integral_value() for bar in bars):
        step = max(step.to_integral_value(rounding="ROUND_CEILING"), Decimal(1))  # counts: whole grid lines
    return step * 4


def _is_number(value) -> bool:
    return value is not None and value != "<3"
