"""Traffic inspection: one HTTP exchange in, a decoded and linted `Exchange` out.

Built on `facectl.protocol` only, so what the inspector shows is exactly what
the server understands. `flows.py` (mitmproxy capture files) is the one module
here that imports mitmproxy, and it is imported only by those who need it:
mitmproxy is the `inspect` extra, so a server install goes without it.
"""

from .exchange import decode_exchange
from .lint import RULES
from .model import Exchange, FieldValue, FileRef, Finding, Message, Photo
from .timeline import Timeline

#: What `facectl inspect` says when mitmproxy is not installed (the `inspect` extra).
MITMPROXY_MISSING = "mitmproxy is not installed; install the inspector with: pip install 'facectl[inspect]'"

__all__ = [
    "MITMPROXY_MISSING", "RULES", "Exchange", "FieldValue", "FileRef", "Finding", "Message", "Photo", "Timeline",
    "decode_exchange",
]
