"""Write the photos of an exchange to a directory, named so that `ls` reads like a log.

`<time>_<SN>_<endpoint>_<n>_<MD5 prefix>.jpg`: sorted by time, grouped by device,
and two identical photos share a prefix, which is how a retried upload shows.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path

from .model import Exchange

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def save_photos(ex: Exchange, directory: str | os.PathLike[str]) -> list[Path]:
    """Save every photo of `ex` (as stored by the device: inflated); returns the paths."""
    out: list[Path] = []
    if not ex.photos:
        return out
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.fromtimestamp(ex.started).strftime("%Y%m%d-%H%M%S-%f")[:-3]
    for i, photo in enumerate(ex.photos, 1):
        ext = "jpg" if photo.kind == "jpeg" else "bin"
        name = f"{stamp}_{_safe(ex.sn or 'no-SN')}_{_safe(ex.name)}_{i}_{photo.md5[:8]}.{ext}"
        path = folder / name
        path.write_bytes(photo.data)
        out.append(path)
    return out


def _safe(text: str) -> str:
    return _UNSAFE.sub("-", text).strip("-")[:40] or "x"
