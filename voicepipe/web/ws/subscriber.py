"""One connected socket: whose it is, what it subscribed to, and its outbox."""

from __future__ import annotations

from dataclasses import dataclass, field

from voicepipe.db.users import UserRow
from voicepipe.services.notifications.live import Entry, parse_id
from voicepipe.web.ws.outbox import Outbox
from voicepipe.web.ws.protocol import ADMIN_TOPICS, TOPICS, ProtocolError, Topic


def allowed_topics(user: UserRow) -> frozenset[Topic]:
    return frozenset(TOPICS) if user.role == "admin" else frozenset(TOPICS) - ADMIN_TOPICS


@dataclass(eq=False)
class Subscriber:
    user: UserRow
    outbox: Outbox
    topics: frozenset[Topic] = frozenset()
    job_id: str | None = None  # only this job's events
    # while a reconnecting socket replays what it missed, live notifications wait here
    held: list[Entry] | None = field(default=None)

    def __post_init__(self) -> None:
        self.topics = self.topics or allowed_topics(self.user)

    @property
    def is_admin(self) -> bool:
        return self.user.role == "admin"

    def subscribe(self, topics: list[Topic] | None, job_id: str | None) -> None:
        allowed = allowed_topics(self.user)
        wanted = frozenset(topics) if topics is not None else allowed
        refused = sorted(wanted - allowed)
        if refused:
            raise ProtocolError(f"{', '.join(refused)} messages are for admins only")
        self.topics = wanted
        self.job_id = job_id

    def wants_job(self, job_id: str) -> bool:
        return "job" in self.topics and (self.job_id is None or self.job_id == job_id)

    def caught_up(self, last_replayed: str | None) -> list[Entry]:
        """End the replay: the held live notifications it did not already send."""
        held, self.held = self.held or [], None
        if last_replayed is None:
            return held
        after = parse_id(last_replayed)
        return [e for e in held if parse_id(e.stream_id) > after]
