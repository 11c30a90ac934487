"""Simulated HTTPv2 devices: one faithful terminal (`device`), a fleet (`fleet`), a conformance run (`check`).

Imports only the protocol layer (and aiohttp as the device's HTTP client); see docs/sim.md.
"""
