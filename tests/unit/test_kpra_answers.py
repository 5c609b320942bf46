"""Every branch of turning a KPRA answer into an outcome, and the payload's field names."""

from decimal import Decimal

import pytest

from app.connectors.kpra import KpraConnector, classify, parse_retry_after
from app.connectors.outcomes import (
    Accepted,
    AlreadyRecorded,
    Ambiguous,
    AuthFailed,
    Credentials,
    Rejected,
    RetryLater,
)
from app.domain import wire_json
from app.domain.states import State
from app.store.records import InvoiceRecord

SEED_SUCCESS = ('{"status":201,"message":"Invoice created successfully.","data":{"transaction_id":'
                '8843481,"invoice_no":"INV123","pos_id":"K123456","date_time":"2025-10-22 12:17:57"}}')


def test_seed_success_answer_gives_the_transaction_id():
    assert classify(201, SEED_SUCCESS) == Accepted("8843481", 201, "Invoice created successfully.")


def test_success_without_a_readable_body_is_still_accepted():
    assert isinstance(classify(201, "<html>ok</html>"), Accepted)


@pytest.mark.parametrize("body", [
    '{"status":400,"message":"Duplicate invoice: invoice_no 1 is already recorded for pos_id P."}',
    '{"status":400,"message":"Bad Request","errors":{"invoice_no":"duplicate"}}',
])
def test_duplicate_answers_are_recognised(body):
    assert isinstance(classify(400, body), AlreadyRecorded)


def test_409_is_a_duplicate():
    assert isinstance(classify(409, ""), AlreadyRecorded)


def test_other_400_is_a_rejection_with_the_reason():
    outcome = classify(400, '{"status":400,"message":"Bad Request","errors":{"amount":"must be > 0",'
                            '"date_time":["required","YYYY-MM-DD HH:MM:SS"]}}')
    assert isinstance(outcome, Rejected)
    # read by a shopkeeper: field and reason, not JSON
    assert outcome.message == ("KPRA refused this invoice: Bad Request (amount: must be > 0; "
                               "date_time: required, YYYY-MM-DD HH:MM:SS)")


@pytest.mark.parametrize("status", [401, 403, 404, 405])
def test_credentials_and_configuration_problems_hold(status):
    assert isinstance(classify(status, '{"message":"x"}'), AuthFailed)


def test_429_carries_retry_after():
    outcome = classify(429, "", "7")
    assert isinstance(outcome, RetryLater) and outcome.after == 7


@pytest.mark.parametrize("status", [500, 502, 503, 504, 418])
def test_server_errors_are_ambiguous(status):
    assert isinstance(classify(status, "Server error"), Ambiguous)


def test_retry_after_as_http_date():
    assert parse_retry_after("Thu, 01 Jan 1970 00:00:30 GMT", now=10.0) == pytest.approx(20.0)
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def _record() -> InvoiceRecord:
    return InvoiceRecord(
        id=1, pos_id="K123456", invoice_no="INV123", ntn="K123456", amount=Decimal("200.50"),
        tax_rate=Decimal("5"), tax_amount=Decimal("10.025"), total_amount=Decimal("210.525"),
        date_time="2025-10-22 12:17:57", payment_mode=2, warnings=[], content_hash="h",
        state=State.SENDING, received_at=0, updated_at=0, attempts=1, next_attempt_at=0,
        ambiguous=False, last_error=None, last_status=None, transaction_id=None, synced_at=None)


CREDENTIALS = Credentials("K123456", "K123456", "KPRA@123a")


@pytest.mark.parametrize("style,present,absent", [
    ("live", {"date", "sales_tax"}, {"date_time", "tax_amount"}),
    ("utility", {"date_time", "tax_amount"}, {"date", "sales_tax"}),
    ("both", {"date", "sales_tax", "date_time", "tax_amount"}, set()),
])
def test_field_style_chooses_the_names(style, present, absent):
    body = KpraConnector("https://x/", field_style=style).payload(_record(), CREDENTIALS)
    assert present <= set(body) and not (absent & set(body))
    assert {"ntn", "pos_id", "key", "invoice_no", "amount", "tax_rate", "total_amount",
            "payment_mode"} <= set(body)


def test_amounts_go_out_as_exact_json_numbers():
    body = KpraConnector("https://x/").payload(_record(), CREDENTIALS)
    text = wire_json.dumps(body)
    assert '"amount":200.50' in text and '"sales_tax":10.025' in text
    assert wire_json.loads(text)["total_amount"] == Decimal("210.525")


def test_credentials_repr_hides_the_key():
    assert "KPRA@123a" not in repr(CREDENTIALS)
