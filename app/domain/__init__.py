"""Pure rules: the invoice, its validation, tax arithmetic, the QR URL. No I/O, no framework."""
