"""`nextup demo`: queues, patients and an admin account to look around with."""

from __future__ import annotations

import argparse
import secrets

from core.domain.model import QueueConfig, QueueMode
from core.services import accounts
from core.services.queues import new_join_request
from core.settings import Settings
from core.storage.errors import AlreadyExists
from nextup.lifecycle import with_database
from nextup.wiring import Container

DemoQueue = tuple[str, str, str, QueueMode, int, list[str], dict[str, int]]
DEMO_QUEUES: tuple[DemoQueue, ...] = (
    (
        "PHARM",
        "Pharmacy",
        "A",
        QueueMode.DYNAMIC,
        60,
        ["1", "2", "3"],
        {"pickup": 120, "consultation": 600},
    ),
    ("LAB", "Blood tests", "L", QueueMode.FIFO, 40, ["1", "2"], {}),
)
"""Code, name, prefix, mode, capacity, counters, and kinds of visit with their seconds."""
DEMO_PUBLIC_NAMES = {"PHARM": "Pharmacy", "LAB": "Lab"}
"""What patients read them called (the queues' `public_name`)."""

DEMO_PATIENTS = (
    ("Ana Lima", 0, "consultation"),
    ("Bo Chen", 0, "pickup"),
    ("Cy Okafor", 1, "pickup"),
    ("Di Rossi", 0, None),
    ("Ed Novak", 2, "consultation"),
)
"""Names make the console look like a real morning. No phones: the demo sends no texts until
someone joins (SQLite takes one writer at a time, and `worker` and `bot` may share it)."""


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    async def work(container: Container) -> int:
        for code, name, prefix, mode, capacity, counters, service_times_s in DEMO_QUEUES:
            config = QueueConfig(mode=mode, capacity=capacity, service_times_s=service_times_s)
            try:
                await container.queues.create_queue(
                    code, name, prefix, config, counters, DEMO_PUBLIC_NAMES[code]
                )
                print(f"queue {code} ({name}), counters {', '.join(counters)}")
            except AlreadyExists:
                print(f"queue {code} already exists")
        status = await container.queues.status("PHARM")
        if status.queue.size() == 0:
            for name, priority, service in DEMO_PATIENTS:
                request = new_join_request(name=name, priority=priority, service=service)
                await container.queues.join("PHARM", request, "demo")
            print("5 demo patients waiting in PHARM")
        password = secrets.token_urlsafe(12)
        try:
            await accounts.create_account("admin", accounts.Role.ADMIN.value, password)
            print(f"admin account: admin / {password}")
        except AlreadyExists:
            print("admin account already exists: `nextup passwd admin` sets a new password")
        print(f"API token for admin: {await accounts.issue_token('admin')}")
        return 0

    return with_database(settings, work)
