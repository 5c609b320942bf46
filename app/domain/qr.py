"""The receipt QR code (seed, "QR Code API"): a URL on kpra.gov.pk naming the POS and invoice.

qrcode is imported only when an image is made: every invoice needs the URL, few need a picture
(and the database writer process, which builds the URL for each answer, stays without it)."""

import io
import re
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    import qrcode

KPRA_VERIFY_URL = "https://kpra.gov.pk/api/"


_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")  # what quote() leaves as it is


def qr_url(pos_id: str, invoice_no: str) -> str:
    return f"{KPRA_VERIFY_URL}?pos_id={_quoted(pos_id)}&invoice_no={_quoted(invoice_no)}"


def _quoted(text: str) -> str:
    return text if _UNRESERVED.fullmatch(text) else quote(text, safe="")


def _code(data: str) -> "qrcode.QRCode":
    import qrcode

    # Level M survives a smudged thermal print; border 4 is the standard quiet zone.
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=8, border=4)
    code.add_data(data)
    code.make(fit=True)
    return code


def qr_png(data: str) -> bytes:
    import qrcode.image.pure

    buffer = io.BytesIO()
    _code(data).make_image(image_factory=qrcode.image.pure.PyPNGImage).save(buffer)
    return buffer.getvalue()


def qr_svg(data: str) -> bytes:
    import qrcode.image.svg

    buffer = io.BytesIO()
    _code(data).make_image(image_factory=qrcode.image.svg.SvgPathImage).save(buffer)
    return buffer.getvalue()
