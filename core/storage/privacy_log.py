"""The privacy log: each retention run, access request and erasure, with who asked, when
and how many rows of each kind it gave or erased; never whose data it was."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from core.storage.models import PrivacyLogRow


async def add(
    kind: str, actor: str, at: datetime, subject: str | None, counts: Mapping[str, int]
) -> None:
    await PrivacyLogRow.create(kind=kind, actor=actor, at=at, subject=subject, counts=dict(counts))


async def entries(limit: int = 100) -> list[dict[str, Any]]:
    """The newest first."""
    rows = PrivacyLogRow.all().order_by("-id").limit(limit)
    return list(await rows.values("kind", "actor", "at", "subject", "counts"))
