"""The Jobs page's query string: the filters read from it (a bad value is a 400 that says which
one and why) and the links that keep them (the pager, the quick time ranges).

The filter form is a plain GET form, so it sends every field, empty or not: an empty value means
"any". Times are read as UTC, the way `<input type="datetime-local">` sends them (no zone).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from multidict import MultiMapping

from voicepipe.domain.job_info import JobFilters
from voicepipe.domain.jobs import JobStatus
from voicepipe.errors import InvalidInput
from voicepipe.settings import QUEUES

PATH = "/jobs"
MAX_TEXT_CHARS = 200  # a search, a task name or a batch id longer than this is no real one
MAX_CURSOR_CHARS = 400
MIN_SEARCH_CHARS = 3  # as the JSON API: shorter matches nearly every row and helps nobody
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
# the quick links over the form: "last 1 h" sets created_after to an hour before now
RANGES: dict[str, timedelta] = {
    "1 h": timedelta(hours=1),
    "24 h": timedelta(days=1),
    "7 d": timedelta(days=7),
}


@dataclass(frozen=True)
class JobsQuery:
    """What the reader asked the Jobs page for; every field left unset matches everything."""

    statuses: tuple[JobStatus, ...] = ()
    queue: str | None = None
    task: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    search: str | None = None
    batch: str | None = None
    cursor: str | None = None

    def filters(self, owner_id: int | None) -> JobFilters:
        return JobFilters(
            statuses=list(self.statuses), queue=self.queue, task_name=self.task,
            created_after=self.created_after, created_before=self.created_before,
            search=self.search, owner_id=owner_id, batch_id=self.batch,
        )  # fmt: skip

    @property
    def filtered(self) -> bool:
        return self != JobsQuery(cursor=self.cursor)

    def url(self, **changes: Any) -> str:
        """This page's address with `changes` applied (the filters kept, the cursor dropped
        unless given)."""
        changed = replace(self, **{"cursor": None, **changes})
        pairs = [("status", s.value) for s in changed.statuses]
        pairs += [
            (name, value)
            for name, value in (
                ("queue", changed.queue), ("task", changed.task),
                ("created_after", local_input(changed.created_after)),
                ("created_before", local_input(changed.created_before)),
                ("q", changed.search), ("batch", changed.batch), ("cursor", changed.cursor),
            )
            if value
        ]  # fmt: skip
        return f"{PATH}?{urlencode(pairs)}" if pairs else PATH

    def range_links(self, now: datetime) -> list[tuple[str, str]]:
        """(label, url) of "created in the last …" links, from the minute `now` falls in."""
        minute = now.astimezone(UTC).replace(second=0, microsecond=0)
        return [
            (label, self.url(created_after=minute - span, created_before=None))
            for label, span in RANGES.items()
        ]


def parse(query: MultiMapping[str], task_names: Collection[str]) -> JobsQuery:
    """The query of a request to the Jobs page; InvalidInput names the first bad value."""
    for name, value in query.items():
        if "\x00" in value:
            raise InvalidInput(f"filter {name!r} holds a NUL character")
    parsed = JobsQuery(
        statuses=tuple(_status(v) for v in dict.fromkeys(query.getall("status", [])) if v),
        queue=_choice(query, "queue", QUEUES, f"is not a queue; queues are {', '.join(QUEUES)}"),
        task=_choice(query, "task", task_names, "is not a registered task"),
        created_after=_moment(query, "created_after", "Created after"),
        created_before=_moment(query, "created_before", "Created before"),
        search=_search(query),
        batch=_text(query, "batch", "batch id", MAX_TEXT_CHARS),
        cursor=_text(query, "cursor", "page cursor", MAX_CURSOR_CHARS),
    )
    after, before = parsed.created_after, parsed.created_before
    if after and before and after >= before:
        raise InvalidInput(
            f"'Created after' ({local_input(after)}) must be earlier than "
            f"'Created before' ({local_input(before)})"
        )
    return parsed


def local_input(moment: datetime | None) -> str:
    """A UTC moment as `<input type="datetime-local">` shows it: "2030-01-02T03:04"."""
    if moment is None:
        return ""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S" if moment.second else "%Y-%m-%dT%H:%M")


def _status(value: str) -> JobStatus:
    try:
        return JobStatus(value)
    except ValueError:
        known = ", ".join(s.value for s in JobStatus)
        raise InvalidInput(f"status {value!r} is not a job status; statuses are {known}") from None


def _text(query: Mapping[str, str], name: str, what: str, limit: int) -> str | None:
    value = query.get(name, "").strip()
    if len(value) > limit:
        raise InvalidInput(f"the {what} is longer than {limit} characters")
    return value or None


def _choice(
    query: Mapping[str, str], name: str, known: Collection[str], refusal: str
) -> str | None:
    value = _text(query, name, name, MAX_TEXT_CHARS)
    if value is not None and value not in known:
        raise InvalidInput(f"{name} {value!r} {refusal}")
    return value


def _search(query: Mapping[str, str]) -> str | None:
    value = _text(query, "q", "search", MAX_TEXT_CHARS)
    if value is not None and len(value) < MIN_SEARCH_CHARS:
        raise InvalidInput(f"search for at least {MIN_SEARCH_CHARS} characters (got {value!r})")
    return value


def _moment(query: Mapping[str, str], name: str, label: str) -> datetime | None:
    value = _text(query, name, label, 40)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidInput(
            f"'{label}' {value!r} is not a date and time like 2030-01-02T03:04 (UTC)"
        ) from None
    if not EARLIEST <= moment <= LATEST:
        raise InvalidInput(f"'{label}' must be between 1970 and 9000")
    return moment
