"""Error types the domain raises; the server turns each into the one JSON error shape."""


class InvoiceValidationError(ValueError):
    """Every invalid field at once: ``errors`` maps field name to what is wrong with it."""

    def __init__(self, errors: dict[str, str]):
        self.errors = dict(errors)
        fields = ", ".join(sorted(self.errors))
        super().__init__(f"Invalid invoice: check {fields}.")
