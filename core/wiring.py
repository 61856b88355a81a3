"""The composition root: the one place that builds concrete adapters from settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from core.bus import EventBus
from core.bus.memory import InProcessBus
from core.bus.redis import RedisBus
from core.services.queues import Clock, QueueService
from core.settings import Settings
from core.storage import db


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Container:
    settings: Settings
    bus: EventBus
    clock: Clock = utc_now
    queues: QueueService = field(init=False)

    def __post_init__(self) -> None:
        self.queues = QueueService(self.bus, self.clock)

    async def start(self, migrate: bool | None = None) -> None:
        """Connects the database; migrates it first on an embedded one (or when asked)."""
        if migrate if migrate is not None else self.settings.is_embedded:
            await db.migrate(self.settings.database_url)
        await db.connect(self.settings.database_url)

    async def stop(self) -> None:
        await self.bus.close()
        await db.disconnect()


def build_container(settings: Settings, clock: Clock = utc_now) -> Container:
    bus: EventBus = RedisBus(settings.redis_url) if settings.redis_url else InProcessBus()
    return Container(settings=settings, bus=bus, clock=clock)
