"""Bar charts as standalone SVG documents, drawn on the server (the product allows no hand-drawn
canvas code). The output shows the same in Chromium through <img src> and in Qt's QSvgWidget:
plain presentation attributes only (no <style>, no scripts, no external references).

Scale arithmetic is Decimal (gridline values are exact, e.g. 2.5k); floats are used only for
pixel coordinates. Negative values (credit notes) are drawn below a zero line in another colour,
so a day that nets below zero is visible instead of silently looking like a day without sales."""

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from html import escape

from app.domain.money import CENT, plain

# Colours chosen for contrast on the white background: text 14:1, axis labels 7.6:1,
# bars 5.2:1 and 6.5:1 (WCAG asks 4.5:1 for text, 3:1 for graphics).
BACKGROUND = "#ffffff"
TEXT = "#1f2937"
MUTED = "#4b5563"
GRID = "#d1d5db"
AXIS = "#6b7280"
BAR = "#2563eb"
NEGATIVE_BAR = "#b91c1c"
# Qt takes the first family it knows; Chromium resolves system-ui to the platform's UI font.
FONT = "system-ui, 'Segoe UI', Roboto, 'Noto Sans', 'DejaVu Sans', sans-serif"

MAX_INTERVALS = 4  # gridlines: 0 plus 2–4 steps, i.e. 3–5 lines
_MULTIPLIERS = (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5))
_UNITS = ((Decimal(10) ** 12, "T"), (Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M"), (Decimal(1000), "k"))
# Characters XML 1.0 forbids even when escaped; a label holding one would make the SVG unreadable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class Scale:
    """The value axis: gridlines at bottom, bottom + step, …, top (exact Decimals)."""

    bottom: Decimal
    top: Decimal
    step: Decimal

    @property
    def ticks(self) -> list[Decimal]:
        count = int((self.top - self.bottom) / self.step)
        return [self.bottom + self.step * n for n in range(count + 1)]


def nice_step(span: Decimal, max_intervals: int = MAX_INTERVALS) -> Decimal:
    """The smallest of 1, 2, 2.5 and 5 × 10^k that covers ``span`` in at most ``max_intervals``
    steps; never finer than 0.01 (money has two decimal places, so neither may the axis).
    ``span`` must be positive."""
    return next(_nice_steps(span, max_intervals))


def _nice_steps(span: Decimal, max_intervals: int) -> Iterator[Decimal]:
    """Nice steps from the smallest that covers ``span`` upwards."""
    if not span > 0:
        raise ValueError("span must be positive")
    raw = span / max_intervals
    exponent = raw.adjusted()
    while True:
        for multiplier in _MULTIPLIERS:
            step = multiplier.scaleb(exponent).normalize()
            if step >= raw and step.as_tuple().exponent >= -2:  # not finer than a cent
                yield step
        exponent += 1


def nice_scale(low: Decimal, high: Decimal) -> Scale:
    """A scale from a multiple of the step at or below min(low, 0) to one at or above
    max(high, 0), with 2–4 steps. At least one of ``low`` and ``high`` must be non-zero."""
    low, high = min(low, Decimal(0)), max(high, Decimal(0))
    for step in _nice_steps(high - low, MAX_INTERVALS):
        # Rounding both ends outwards can cost one step too many: then take the next nice step.
        bottom = (low / step).to_integral_value(ROUND_FLOOR) * step
        top = (high / step).to_integral_value(ROUND_CEILING) * step
        if (top - bottom) / step <= MAX_INTERVALS:
            break
    if (top - bottom) / step < 2:  # e.g. a maximum of 0.01: show 0, 0.01, 0.02
        if high > 0:
            top += step
        else:
            bottom -= step
    return Scale(bottom, top, step)


def short_amount(value: Decimal) -> str:
    """Axis label: 0, 750, 2.5k, 10k, 1.25M, 3B, 1T (a gridline value, so never long)."""
    for unit, suffix in _UNITS:
        if abs(value) >= unit:
            return plain((value / unit).normalize()) + suffix
    return "0" if value == 0 else plain(value.normalize())


def money_text(value: Decimal) -> str:
    """12,400.00 — thousands separators, two decimals, more only when the value has them."""
    if value == value.quantize(CENT):
        return format(value.quantize(CENT), ",.2f")
    return format(value, ",f")


def bar_chart(title: str, labels: Sequence[str], values: Sequence[Decimal], *, value_name: str,
              width: int = 640, height: int = 240, label_every: int = 1,
              show_title: bool = True) -> bytes:
    """A bar per value as a UTF-8 SVG document. ``labels`` name the bars (x axis; every
    ``label_every``-th one is printed, counting back from the last, so the newest day is
    always labelled); ``value_name`` says what the
    values are ("Sales" → "No sales yet" when every value is zero or there are none)."""
    if len(labels) != len(values):
        raise ValueError(f"{len(labels)} labels for {len(values)} values")
    label_every = max(1, label_every)
    values = [Decimal(v) for v in values]
    empty = not any(values)  # all zero, or no values at all
    description = _describe(title, labels, values, value_name, empty)

    top_margin = 30.0 if show_title else 10.0
    bottom_margin, right_margin = 24.0, 12.0
    scale = None if empty else nice_scale(min(values), max(values))
    tick_texts = [short_amount(t) for t in scale.ticks] if scale else []
    left_margin = max(36.0, 14.0 + 6.6 * max((len(t) for t in tick_texts), default=0))
    plot_w = max(1.0, width - left_margin - right_margin)
    plot_h = max(1.0, height - top_margin - bottom_margin)
    plot_bottom = top_margin + plot_h

    out = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.2" baseProfile="tiny" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-labelledby="chart-title chart-desc">',
        f'<title id="chart-title">{_text(title)}</title>',
        f'<desc id="chart-desc">{_text(description)}</desc>',
        f'<g font-family="{_text(FONT)}" font-size="11" fill="{TEXT}">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="{BACKGROUND}"/>',
    ]
    if show_title:
        out.append(f'<text x="{_n(left_margin)}" y="18" font-size="13" font-weight="bold">'
                   f'{_text(title)}</text>')

    def y_of(value: Decimal) -> float:
        assert scale is not None
        share = float(value - scale.bottom) / float(scale.top - scale.bottom)
        return plot_bottom - share * plot_h

    if scale is None:
        out.append(f'<line x1="{_n(left_margin)}" y1="{_n(plot_bottom)}" x2="{_n(width - right_margin)}" '
                   f'y2="{_n(plot_bottom)}" stroke="{AXIS}" stroke-width="1"/>')
        out.append(f'<text x="{_n(left_margin + plot_w / 2)}" y="{_n(top_margin + plot_h / 2 + 5)}" '
                   f'text-anchor="middle" font-size="14" fill="{MUTED}">'
                   f'{_text(f"No {value_name.lower()} yet")}</text>')
    else:
        out.append('<g id="grid">')
        for tick, text in zip(scale.ticks, tick_texts, strict=True):
            y = y_of(tick)
            colour = AXIS if tick == 0 else GRID
            out.append(f'<line x1="{_n(left_margin)}" y1="{_n(y)}" x2="{_n(width - right_margin)}" '
                       f'y2="{_n(y)}" stroke="{colour}" stroke-width="1"/>')
            out.append(f'<text x="{_n(left_margin - 6)}" y="{_n(y + 4)}" text-anchor="end" '
                       f'fill="{MUTED}">{_text(text)}</text>')
        out.append('</g>')

    slot = plot_w / max(1, len(values))
    bar_w = max(1.0, slot * 0.7)
    if scale is not None:
        zero_y = y_of(Decimal(0))
        out.append('<g id="bars">')
        for i, (label, value) in enumerate(zip(labels, values, strict=True)):
            end_y = y_of(value)
            bar_h = abs(zero_y - end_y)
            if value != 0 and bar_h < 1:  # a tiny value still shows as a sliver
                bar_h = 1.0
            y = zero_y - bar_h if value >= 0 else zero_y
            colour = BAR if value >= 0 else NEGATIVE_BAR
            out.append(f'<rect x="{_n(left_margin + i * slot + (slot - bar_w) / 2)}" y="{_n(y)}" '
                       f'width="{_n(bar_w)}" height="{_n(bar_h)}" fill="{colour}">'
                       f'<title>{_text(f"{label}: {money_text(value)}")}</title></rect>')
        out.append('</g>')

    out.append(f'<g id="x-labels" text-anchor="middle" fill="{MUTED}">')
    for i in range((len(labels) - 1) % label_every, len(labels), label_every):
        out.append(f'<text x="{_n(left_margin + i * slot + slot / 2)}" y="{_n(plot_bottom + 16)}">'
                   f'{_text(labels[i])}</text>')
    out.append('</g>')
    out.append('</g></svg>\n')
    return "\n".join(out).encode("utf-8")


def _describe(title: str, labels: Sequence[str], values: list[Decimal], value_name: str,
              empty: bool) -> str:
    if empty:
        return f"{title}: no {value_name.lower()} yet."
    high = max(range(len(values)), key=lambda i: values[i])  # the first of equal highs
    text = f"{title}: highest {money_text(values[high])} on {labels[high]}"
    low = min(range(len(values)), key=lambda i: values[i])
    if values[low] < 0:
        text += f"; lowest {money_text(values[low])} on {labels[low]}"
    return text + f"; total {money_text(sum(values, Decimal(0)))}"


def _text(value: str) -> str:
    """Escaped for XML text and attribute values; characters XML cannot hold become U+FFFD."""
    return escape(_NOT_XML.sub("\ufffd", value), quote=True)


def _n(number: float) -> str:
    """A pixel coordinate, short: 12, 12.5, 12.35."""
    text = f"{number:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text
