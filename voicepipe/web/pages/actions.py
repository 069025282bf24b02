"""How a page's action button works: a POST form (its CSRF token checked by page_security), a
confirmation first, the service call, then a redirect back with a message saying what happened.

With JavaScript, static/actions.js asks the form's `data-confirm` question in the browser and sends
`confirmed=yes`; without it, the first POST answers with templates/confirm.html, whose button
posts the same fields again with `confirmed=yes`. Either way nothing changes before the reader
said yes. An action the state does not allow (a job that finished meanwhile, a queue that does
not exist) comes back as an error message on the page, not an error page.
"""

from __future__ import annotations

from collections.abc import Awaitable
from urllib.parse import urlsplit

from aiohttp import web
from multidict import MultiDictProxy

from voicepipe import errors
from voicepipe.db.users import UserRow
from voicepipe.web.pages import flash
from voicepipe.web.pages.render import render_page
from voicepipe.web.pages.session import CSRF_FIELD

CONFIRMED = "confirmed"  # the field that says the reader answered yes
# what an action may fail with that the reader can act on: shown as a message on the page
REFUSALS = (errors.InvalidInput, errors.NotFound, errors.Conflict, errors.PermissionDenied)

Form = MultiDictProxy[str | bytes | bytearray | web.FileField]


async def posted(request: web.Request) -> Form:
    """The posted form (parsed once: the CSRF check read it already)."""
    return await request.post()


def confirmed(form: Form) -> bool:
    return form.get(CONFIRMED) == "yes"


def confirmation(
    request: web.Request,
    user: UserRow,
    form: Form,
    *,
    question: str,
    button: str,
    back: str,
    active: str,
    details: list[str] | None = None,
) -> web.Response:
    """The page asking `question`: `button` posts the form's fields again, confirmed; "Back"
    returns to `back` with nothing done."""
    fields = [
        (name, value)
        for name, value in form.items()
        if isinstance(value, str) and name not in (CSRF_FIELD, CONFIRMED)
    ]
    return render_page(request, "confirm.html", user, active, {
        "question": question, "button": button, "back": back, "action": request.path,
        "fields": fields, "details": details or [],
    })  # fmt: skip


async def run(back: str, action: Awaitable[str]) -> web.Response:
    """Await `action` (which returns what it did, in words) and go back to `back` saying so, or
    saying why it was refused."""
    try:
        said = await action
    except REFUSALS as exc:
        return redirect(back, "error", str(exc))
    return redirect(back, "success", said)


def redirect(back: str, level: flash.Level, text: str) -> web.Response:
    """303 to `back` (a path on this site), leaving `text` for the page there."""
    response = web.Response(status=303, headers={"Location": local(back)})
    flash.leave(response, level, text)
    return response


def local(path: str) -> str:
    """`path` if it is a path on this site, else "/" (a form field never sends anyone away)."""
    parts = urlsplit(path)
    if parts.scheme or parts.netloc or not path.startswith("/") or path.startswith("//"):
        return "/"
    return path
