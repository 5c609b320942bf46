"""The receipt QR: URL format from the seed, values URL-encoded, and the PNG really carries it."""

import png
import pytest
import qrcode

from app.domain.qr import qr_png, qr_svg, qr_url


def test_url_matches_the_seed_example():
    assert qr_url("K123456", "INV123") == "https://kpra.gov.pk/api/?pos_id=K123456&invoice_no=INV123"


@pytest.mark.parametrize("invoice_no,encoded", [
    ("INV 1/2", "INV%201%2F2"), ("A&B=C", "A%26B%3DC"), ("فاتورة", "%D9%81%D8%A7%D8%AA%D9%88%D8%B1%D8%A9"),
])
def test_values_are_url_encoded(invoice_no, encoded):
    assert qr_url("K 1", invoice_no).endswith(f"?pos_id=K%201&invoice_no={encoded}")


def _modules_from_png(data: bytes, box: int = 8, border: int = 4) -> list[list[bool]]:
    width, height, rows, _ = png.Reader(bytes=data).read()
    pixels = [list(row) for row in rows]
    count = width // box
    assert width == height and width % box == 0
    # sample the centre of every box: dark (0) is a set module
    return [[pixels[y * box + box // 2][x * box + box // 2] == 0 for x in range(count)]
            for y in range(count)]


def test_png_modules_are_exactly_the_code_for_the_url():
    url = qr_url("K123456", "INV-2026/000123")
    expected = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    expected.add_data(url)
    expected.make(fit=True)
    assert _modules_from_png(qr_png(url)) == expected.get_matrix()


def test_svg_is_an_svg():
    assert b"<svg" in qr_svg(qr_url("K123456", "1"))
