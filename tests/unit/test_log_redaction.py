"""The log filter: a known key, and anything shaped like a key, never reaches a log line."""

import logging

import pytest

from app.logs import SecretRedactor


@pytest.mark.parametrize("text", [
    'posted {"ntn": "N1", "key": "Sk-abc123", "invoice_no": "7"}',
    "ntn=N1&key=Sk-abc123&invoice_no=7",
    "api_key='Sk-abc123' rejected",
    "X-API-Key: Sk-abc123",
    "password = Sk-abc123",
    "token:Sk-abc123",
    '{"secret":"Sk-abc123"}',
])
def test_key_shaped_values_are_redacted(text):
    redacted = SecretRedactor().redact(text)
    assert "Sk-abc123" not in redacted and "***" in redacted


def test_a_registered_key_is_redacted_wherever_it_appears():
    redactor = SecretRedactor()
    redactor.register("p4ss-Word-9")
    assert redactor.redact("the till sent p4ss-Word-9 as the NTN") == "the till sent *** as the NTN"


def test_other_text_is_left_alone():
    text = 'invoice 7 of POS K123456 synced, transaction_id "8843481", amount 200.50'
    assert SecretRedactor().redact(text) == text


def test_the_filter_covers_arguments_and_tracebacks():
    redactor = SecretRedactor()
    redactor.register("Sk-in-a-traceback")
    try:
        raise ValueError("connect failed for key Sk-in-a-traceback")
    except ValueError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "sending %s failed",
                                   ({"key": "Sk-arg"},), exc_info=True)
        import sys
        record.exc_info = sys.exc_info()
    redactor.filter(record)
    assert "Sk-arg" not in record.getMessage()
    assert record.exc_text and "Sk-in-a-traceback" not in record.exc_text
