"""`voting db init [--seed]`: the schema, and a small demo poll."""
from __future__ import annotations

from voting.config import Config

DEMO_POLL = {
    "title": "Which feature should we build next?",
    "description": "A demo poll created by `voting db init --seed`.",
    "visibility": "public",
    "questions": [
        {"text": "Pick one", "kind": "single",
         "options": [{"label": "Dark mode"}, {"label": "Exports"}, {"label": "Mobile app"}]},
        {"text": "Which days suit you?", "kind": "multiple", "min_choices": 0,
         "options": [{"label": "Monday"}, {"label": "Wednesday"}, {"label": "Friday"}]},
    ],
}


async def init_database(config: Config, seed: bool) -> str | None:
    from voting.app import make_broker, make_storage
    from voting.config import resolve_secret
    from voting.metrics import Metrics
    from voting.service import PollService
    from voting.tokens import Signer

    storage = make_storage(config)
    await storage.open()
    try:
        await storage.init_schema()
        if not seed:
            return None
        existing = await storage.list_public_polls(100, None)
        for p in existing:
            if p.title == DEMO_POLL["title"]:
                return p.id
        service = PollService(storage, make_broker(config, "db-init"), Signer(resolve_secret(config.server)),
                              Metrics(), config.storage.counter_slots)
        reply = await service.create_poll(DEMO_POLL, None, "")
        return str(reply.body["poll"]["id"])
    finally:
        await storage.close()
