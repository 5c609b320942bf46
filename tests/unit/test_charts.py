"""Server-side SVG bar charts: well-formed, one bar per value, exact nice scales, escaped text,
an empty state, negative values below a zero line."""

import datetime as dt
import re
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest

from app.server.charts import BAR, NEGATIVE_BAR, bar_chart, money_text, nice_scale, nice_step, short_amount

SVG = "{http://www.w3.org/2000/svg}"
DAYS = [(dt.date(2026, 10, 23) + dt.timedelta(days=n)).strftime("%d %b") for n in range(30)]


def parse(svg: bytes) -> ET.Element:
    assert svg.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(svg)


def bars(root: ET.Element) -> list[ET.Element]:
    group = root.find(f".//{SVG}g[@id='bars']")
    return [] if group is None else group.findall(f"{SVG}rect")


def gridlines(root: ET.Element) -> list[tuple[float, str]]:
    """(y, label) of each gridline, top to bottom."""
    group = root.find(f".//{SVG}g[@id='grid']")
    assert group is not None
    ys = [float(line.get("y1")) for line in group.findall(f"{SVG}line")]
    labels = [text.text for text in group.findall(f"{SVG}text")]
    return sorted(zip(ys, labels, strict=True))


def all_text(root: ET.Element) -> str:
    return " ".join(t for t in root.itertext())


def month_of_sales() -> list[Decimal]:
    values = [Decimal(0)] * 30
    values[11] = Decimal("12400.00")
    values[3] = Decimal("50000.00")
    values[20] = Decimal("23600.00")
    return values


@pytest.mark.parametrize(("span", "step"), [
    ("15000", "5000"), ("12400", "5000"), ("9000", "2500"), ("86000", "25000"), ("100", "25"),
    ("7", "2"), ("3.2", "1"), ("1", "0.25"), ("0.03", "0.01"), ("0.001", "0.01"),
    ("999999999999", "250000000000"), ("40", "10"), ("41", "20"),
])
def test_nice_step_covers_the_span_in_at_most_four_round_steps(span: str, step: str) -> None:
    assert nice_step(Decimal(span)) == Decimal(step)


def test_nice_step_needs_a_positive_span() -> None:
    with pytest.raises(ValueError, match="positive"):
        nice_step(Decimal(0))


@pytest.mark.parametrize("high", ["0.01", "1", "7", "9", "12400", "15000.01", "86000", "123456.78",
                                  "999999999999.99"])
def test_nice_scale_has_three_to_five_exact_gridlines_from_zero(high: str) -> None:
    scale = nice_scale(Decimal(0), Decimal(high))
    assert scale.bottom == 0
    assert 3 <= len(scale.ticks) <= 5
    assert scale.top >= Decimal(high)
    assert scale.top - scale.step < Decimal(high) or len(scale.ticks) == 3
    assert all(t % scale.step == 0 for t in scale.ticks)


def test_nice_scale_takes_in_negative_values() -> None:
    scale = nice_scale(Decimal("-5000"), Decimal("100"))
    assert scale.ticks == [Decimal(n) for n in (-6000, -4000, -2000, 0, 2000)]
    only_negative = nice_scale(Decimal("-50"), Decimal(0))
    assert (only_negative.bottom, only_negative.top) == (Decimal(-60), Decimal(0))


@pytest.mark.parametrize(("value", "text"), [
    ("0", "0"), ("750", "750"), ("2500", "2.5k"), ("10000", "10k"), ("1250000", "1.25M"),
    ("3000000000", "3B"), ("1000000000000", "1T"), ("0.25", "0.25"), ("-5000", "-5k"), ("0E+3", "0"),
])
def test_axis_labels_are_short(value: str, text: str) -> None:
    assert short_amount(Decimal(value)) == text


def test_money_text_keeps_every_digit_given() -> None:
    assert money_text(Decimal("12400")) == "12,400.00"
    assert money_text(Decimal("-1234.5")) == "-1,234.50"
    assert money_text(Decimal("0.125")) == "0.125"


def test_a_month_of_sales_is_a_well_formed_accessible_svg_with_a_bar_per_day() -> None:
    svg = bar_chart("Sales per day, last 30 days", DAYS, month_of_sales(), value_name="Sales",
                    label_every=5)
    root = parse(svg)
    assert root.tag == f"{SVG}svg"
    assert (root.get("width"), root.get("height"), root.get("viewBox")) == ("640", "240", "0 0 640 240")
    assert root.get("role") == "img"
    ids = root.get("aria-labelledby").split()
    title, desc = (root.find(f".//*[@id='{i}']") for i in ids)
    assert (title.tag, desc.tag) == (f"{SVG}title", f"{SVG}desc")
    assert title.text == "Sales per day, last 30 days"
    assert desc.text == ("Sales per day, last 30 days: highest 50,000.00 on 26 Oct; "
                         "total 86,000.00")
    assert len(bars(root)) == 30
    assert [b.find(f"{SVG}title").text for b in bars(root)][3] == "26 Oct: 50,000.00"
    assert {b.get("fill") for b in bars(root)} == {BAR}
    x_labels = [t.text for t in root.find(f".//{SVG}g[@id='x-labels']")]
    assert x_labels == ["27 Oct", "01 Nov", "06 Nov", "11 Nov", "16 Nov", "21 Nov"], \
        "counted back from the last day: today is always labelled"
    assert [label for _, label in gridlines(root)] == ["60k", "40k", "20k", "0"]


def test_nothing_external_or_scripted_and_only_plain_attributes() -> None:
    svg = bar_chart("Sales", DAYS, month_of_sales(), value_name="Sales").decode()
    for forbidden in ("<script", "<style", "href", "url(", "<image", "<foreignObject", "class=", "style="):
        assert forbidden not in svg
    assert 'font-family="system-ui' in svg


def test_tallest_bar_matches_the_scale() -> None:
    values = [Decimal("12400.00"), Decimal("3100.00"), Decimal(0)]
    root = parse(bar_chart("Sales", ["a", "b", "c"], values, value_name="Sales"))
    lines = gridlines(root)
    assert [label for _, label in lines] == ["15k", "10k", "5k", "0"]
    top_y, zero_y = lines[0][0], lines[-1][0]
    per_unit = (zero_y - top_y) / 15000
    heights = [float(b.get("height")) for b in bars(root)]
    assert heights[0] == pytest.approx(12400 * per_unit, abs=0.01)
    assert heights[1] == pytest.approx(3100 * per_unit, abs=0.01)
    assert heights[2] == 0
    # Each bar stands on the zero line.
    first = bars(root)[0]
    assert float(first.get("y")) + heights[0] == pytest.approx(zero_y, abs=0.02)


def test_tiny_values_still_show() -> None:
    root = parse(bar_chart("Sales", ["a", "b"], [Decimal("100000"), Decimal("0.01")], value_name="Sales"))
    assert float(bars(root)[1].get("height")) == 1


@pytest.mark.parametrize("values", [[], [Decimal(0)] * 24, [Decimal("0.00"), Decimal("-0.00")]])
def test_empty_state_says_no_sales_yet(values: list[Decimal]) -> None:
    labels = [f"{h:02d}" for h in range(len(values))]
    root = parse(bar_chart("Sales per hour, today", labels, values, value_name="Sales", label_every=3))
    assert bars(root) == []
    message = [t for t in root.iter(f"{SVG}text") if t.text == "No sales yet"]
    assert len(message) == 1
    assert message[0].get("text-anchor") == "middle"
    assert float(message[0].get("x")) == pytest.approx((36 + 628) / 2)
    assert root.find(f".//{SVG}desc").text == "Sales per hour, today: no sales yet."
    assert root.find(f".//{SVG}g[@id='grid']") is None


def test_tax_chart_names_its_own_empty_state() -> None:
    root = parse(bar_chart("Tax per day", ["a"], [Decimal(0)], value_name="Tax"))
    assert "No tax yet" in all_text(root)


def test_all_text_is_escaped() -> None:
    nasty = '<script>alert("x")</script> & \'quoted\' ]]>'
    svg = bar_chart(nasty, [nasty, "b\x00\x1b"], [Decimal("1.00"), Decimal("2.00")], value_name="A&B <c>")
    root = parse(svg)
    assert b"<script>" not in svg
    assert root.find(f"{SVG}title").text == nasty
    assert bars(root)[0].find(f"{SVG}title").text == f"{nasty}: 1.00"
    assert bars(root)[1].find(f"{SVG}title").text == "b\ufffd\ufffd: 2.00"  # XML cannot hold them
    empty = parse(bar_chart("t", ["a"], [Decimal(0)], value_name="A&B <c>"))
    assert "No a&b <c> yet" in all_text(empty)


def test_negative_values_are_drawn_below_the_zero_line() -> None:
    """Credit notes can make a day's total negative: its bar goes down from zero, in red, and
    the description says so (rather than clamping it to look like a day without sales)."""
    values = [Decimal("-250.00"), Decimal("0"), Decimal("650.00")]
    root = parse(bar_chart("Sales", ["d0", "d1", "d2"], values, value_name="Sales"))
    lines = dict((label, y) for y, label in gridlines(root))
    assert list(lines) == ["750", "500", "250", "0", "-250"]
    zero_y = lines["0"]
    down, _, up = bars(root)
    assert down.get("fill") == NEGATIVE_BAR and up.get("fill") == BAR
    assert float(down.get("y")) == pytest.approx(zero_y)
    assert float(down.get("y")) + float(down.get("height")) == pytest.approx(lines["-250"], abs=0.02)
    assert float(up.get("y")) + float(up.get("height")) == pytest.approx(zero_y, abs=0.02)
    assert root.find(f".//{SVG}desc").text == (
        "Sales: highest 650.00 on d2; lowest -250.00 on d0; total 400.00")


def test_labels_and_values_must_match() -> None:
    with pytest.raises(ValueError, match="2 labels for 1 values"):
        bar_chart("Sales", ["a", "b"], [Decimal(1)], value_name="Sales")


def test_coordinates_stay_inside_the_picture() -> None:
    root = parse(bar_chart("Sales", DAYS, month_of_sales(), value_name="Sales", width=320, height=160,
                           label_every=10))
    for element in root.iter():
        for name in ("x", "y", "x1", "x2", "y1", "y2"):
            if element.get(name) is not None:
                limit = 320 if name.startswith("x") else 160
                assert 0 <= float(element.get(name)) <= limit, (element.tag, name)
    assert re.fullmatch(r"[0-9.]+", bars(root)[0].get("width"))
