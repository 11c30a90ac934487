"""The aiohttp application's keys for what the app shares with its routes.

Apart from app.py so a route (the file download) can read the store without
importing the application that imports it.
"""

from __future__ import annotations

from aiohttp import web

from facectl.store import Store

from .config import ServerConfig

STORE = web.AppKey("store", Store)
CONFIG = web.AppKey("config", ServerConfig)
