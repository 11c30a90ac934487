"""facectl: server, admin console, simulator and inspector for FCARD HTTPv2 terminals."""

__version__ = "0.1.0"
