"""Sending: the outbox worker (forwarder) and the one retry policy."""
