"""The Recordings pages (signed-in users: their own recordings; admins: everyone's): the list
with filters and cursor paging, a recording's page (recordings_detail), and each chunk's audio
for the page's players, with the session's rights instead of an API token."""

from __future__ import annotations

from typing import Any, get_args
from urllib.parse import urlencode

from aiohttp import web

from voicepipe.db.users import UserRow
from voicepipe.domain.recordings import Recording, RecordingStatus
from voicepipe.errors import NotFound
from voicepipe.services import recordings
from voicepipe.services.recordings import RecordingFilters
from voicepipe.web.context import resources_of
from voicepipe.web.pages.recordings_detail import detail_context
from voicepipe.web.pages.render import render_page
from voicepipe.web.pages.session import require_user

ROUTES = web.RouteTableDef()

PAGE_ROWS = 50
MAX_SEARCH_CHARS = 200
STATUSES: tuple[str, ...] = get_args(RecordingStatus)


def viewer_of(user: UserRow) -> int | None:
    """Whose recordings `user` may see: their own, or everyone's (None) for an admin."""
    return None if user.role == "admin" else user.id


def _id(request: web.Request, name: str) -> int:
    text = request.match_info[name]
    if not text.isdigit() or len(text) > 18:
        raise NotFound("There is no page at this address.")
    return int(text)


@ROUTES.get("/recordings", name="recordings")
async def recordings_page(request: web.Request) -> web.Response:
    user = await require_user(request)
    status = request.query.get("status", "")
    status = status if status in STATUSES else ""
    search = request.query.get("q", "").strip()[:MAX_SEARCH_CHARS]
    cursor = request.query.get("cursor") or None
    resources = resources_of(request)
    filters = RecordingFilters(statuses=[status] if status else [], search=search or None)
    page = await recordings.list_recordings(resources, viewer_of(user), filters, PAGE_ROWS, cursor)
    owners = await recordings.owner_emails(resources, page.items) if viewer_of(user) is None else {}
    query = {k: v for k, v in (("status", status), ("q", search)) if v}
    context: dict[str, Any] = {
        "live": "job",
        "rows": [_row(r, owners) for r in page.items],
        "show_owner": viewer_of(user) is None,
        "statuses": STATUSES,
        "status": status,
        "search": search,
        "filtered": bool(query),
        "first_url": "/recordings" + (f"?{urlencode(query)}" if query else ""),
        "next_url": f"/recordings?{urlencode({**query, 'cursor': page.next_cursor})}"
        if page.next_cursor
        else None,
        "on_first_page": cursor is None,
    }
    return render_page(request, "recordings.html", user, "recordings", context)


def _row(recording: Recording, owners: dict[int, str]) -> dict[str, Any]:
    owner = recording.owner_id
    return {
        "recording": recording,
        "name": recording.title or recording.original_name,
        "file": recording.original_name if recording.title else None,
        "owner": owners.get(owner, f"user {owner}") if owner is not None else "(deleted user)",
    }


@ROUTES.get("/recordings/{recording_id}", name="recording")
async def recording_page(request: web.Request) -> web.Response:
    user = await require_user(request)
    context = await detail_context(
        resources_of(request),
        user,
        viewer_of(user),
        _id(request, "recording_id"),
        request.query.get("after") or None,
    )
    return render_page(request, "recording.html", user, "recordings", context)


@ROUTES.get("/recordings/{recording_id}/chunks/{chunk_id}/audio", name="recording_chunk_audio")
async def chunk_audio(request: web.Request) -> web.FileResponse:
    """The chunk's FLAC; FileResponse answers Range requests (206) itself."""
    user = await require_user(request)
    path = await recordings.chunk_audio_path(
        resources_of(request), user, _id(request, "recording_id"), _id(request, "chunk_id")
    )
    return web.FileResponse(path, headers={"Content-Type": "audio/flac"})
