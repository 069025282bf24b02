"""The message an action leaves for the page it redirects to ("Job … cancelled."): a short-lived
cookie set with the redirect, shown once by the next page rendered, then deleted.

The cookie holds only the text to show, which the page escapes like any other text; a reader who
edits their own cookie changes only what they themselves see.
"""

from __future__ import annotations

import base64
import json
from typing import Literal

from aiohttp import web

FLASH_COOKIE = "voicepipe_flash"
FLASH_TTL_S = 60  # long enough for the redirect, short enough not to show up on a later visit
MAX_TEXT_CHARS = 600
Level = Literal["info", "success", "warning", "error"]
LEVELS: tuple[Level, ...] = ("info", "success", "warning", "error")


def leave(response: web.StreamResponse, level: Level, text: str) -> None:
    """Have the next page rendered show `text` at `level`."""
    payload = json.dumps([level, text[:MAX_TEXT_CHARS]]).encode()
    value = base64.urlsafe_b64encode(payload).decode()
    response.set_cookie(
        FLASH_COOKIE, value, max_age=FLASH_TTL_S, path="/", httponly=True, samesite="Lax"
    )


def taken(request: web.Request) -> list[tuple[str, str]]:
    """The message left for this page, if any: [(level, text)]; anything unreadable is ignored."""
    value = request.cookies.get(FLASH_COOKIE)
    if not value:
        return []
    try:
        level, text = json.loads(base64.urlsafe_b64decode(value.encode()))
    except (ValueError, TypeError):
        return []
    if level not in LEVELS or not isinstance(text, str):
        return []
    return [(level, text[:MAX_TEXT_CHARS])]


def clear(request: web.Request, response: web.StreamResponse) -> None:
    """Shown once: the page that showed the message deletes its cookie."""
    if FLASH_COOKIE in request.cookies:
        response.del_cookie(FLASH_COOKIE, path="/")
