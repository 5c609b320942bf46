"""One module per upstream API. Connectors only translate the wire; the forwarder decides."""
