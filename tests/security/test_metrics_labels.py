"""Point 4: `/metrics` stays the same size however many made-up methods and paths it is
sent: requests are labelled by known method and route template only."""

from __future__ import annotations

import re

import pytest

from tests.conftest import Api

pytestmark = pytest.mark.usefixtures("pharmacy")
SERIES = re.compile(r"^nextup_http_requests_total\{([^}]*)\}", re.MULTILINE)


async def series(api: Api) -> set[str]:
    text = (await api.client.get("/metrics")).text
    return set(SERIES.findall(text))


async def made_up_requests(api: Api, start: int, count: int) -> None:
    for i in range(start, start + count):
        await api.client.request(f"M{i}X", f"/api/v1/queues/Q{i}")
        await api.client.request(f"Z{i}", f"/nothing/{i}")
        await api.client.get(f"/api/v1/queues/Y{i}", headers=api.auth("staff"))
        await api.client.get(f"/display/Q{i}/state")


async def test_made_up_methods_and_paths_add_no_series(api: Api) -> None:
    await made_up_requests(api, 0, 1)  # one of each kind, so that their series exist
    await series(api)  # /metrics counts itself too
    before = await series(api)
    await made_up_requests(api, 1, 200)
    after = await series(api)
    assert after == before
    labels = " ".join(after)
    assert "M1X" not in labels and "/nothing/" not in labels and "Q1" not in labels
    assert 'method="other"' in labels and 'route="unmatched"' in labels
    assert 'method="GET",route="/api/v1/queues/<code>",status="404"' in labels
