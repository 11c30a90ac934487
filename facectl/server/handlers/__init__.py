"""Endpoint handlers; importing this package registers them all."""

from . import authorization, device, people, records, remote  # noqa: F401
