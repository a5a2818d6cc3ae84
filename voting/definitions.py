"""Poll definitions by id, one cache per process shared by ballots (the service) and live
feeds (the registry): a poll read for its subscribers is ready for their ballots.

Questions, options and eligibility never change; status does. A cached poll is handed out
only while it is open by its own status and closes_at (a closed one is read again: it may
have been reopened), and a ballot's transaction re-checks status and existence anyway."""
from __future__ import annotations

from collections import OrderedDict

from voting.domain import Poll

DEFINITION_CACHE_SIZE = 4096


class PollDefinitions:
    def __init__(self, size: int = DEFINITION_CACHE_SIZE) -> None:
        self.size = size
        self._polls: OrderedDict[str, Poll] = OrderedDict()

    def open_poll(self, poll_id: str, now: int) -> Poll | None:
        poll = self._polls.get(poll_id)
        if poll is None or poll.is_closed(now):
            return None
        self._polls.move_to_end(poll_id)
        return poll

    def remember(self, poll: Poll) -> None:
        self._polls[poll.id] = poll
        self._polls.move_to_end(poll.id)
        if len(self._polls) > self.size:
            self._polls.popitem(last=False)

    def forget(self, poll_id: str) -> None:
        self._polls.pop(poll_id, None)
