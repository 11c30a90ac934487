"""Traffic inspection: one HTTP exchange in, a decoded and linted `Exchange` out.

Built on `facectl.protocol` only, so what the inspector shows is exactly what
the server understands. `flows.py` (mitmproxy capture files) is the one module
here that imports mitmproxy, and it is imported only by those who need it.
"""

from .exchange import decode_exchange
from .lint import RULES
from .model import Exchange, FieldValue, FileRef, Finding, Message, Photo
from .timeline import Timeline

__all__ = [
    "RULES", "Exchange", "FieldValue", "FileRef", "Finding", "Message", "Photo", "Timeline",
    "decode_exchange",
]
