"""The wire: everything the HTTPv2 document and docs/protocol.md say, as pure functions and data.

Nothing here does I/O; every layer above reads protocol facts from here only.
"""
