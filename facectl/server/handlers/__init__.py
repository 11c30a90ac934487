"""Endpoint handlers; importing this package registers them all."""

from . import device, records  # noqa: F401
