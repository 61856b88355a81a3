"""Kinds of visit on the console: the walk-in form offers the queue's kinds, and the board
shows each patient's."""

from __future__ import annotations

import re

import httpx

from tests.api.helpers import create_queue, status
from tests.conftest import Api
from tests.web.sessions import console_client, csrf_token

KINDS = {"pickup": 120, "consultation": 720}


def kind_options(page: str, code: str = "PHARM") -> list[tuple[str, str]]:
    """(value, label) of the walk-in form's kind-of-visit select."""
    form = re.search(rf'<form class="walk-in" id="walk-in-{code}".*?</form>', page, re.S)
    assert form, page
    select = re.search(r'<select name="service".*?</select>', form.group(0), re.S)
    if select is None:
        return []
    return [
        (value, " ".join(label.split()))
        for value, label in re.findall(
            r'<option value="([^"]*)"[^>]*>(.*?)</option>', select.group(0)
        )
    ]


async def add_walk_in(client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    token = await csrf_token(client)
    body = {"name": "", "phone": "", "priority": "0", "appointment_at": ""} | fields
    return await client.post(
        "/console/queues/PHARM/walk-in", data=body, headers={"X-CSRF-Token": token}
    )


async def test_the_walk_in_form_offers_the_queues_kinds_of_visit(api: Api) -> None:
    await create_queue(api, service_times_s=KINDS)
    await create_queue(api, "LAB", prefix="L")
    async with console_client(api, "staff") as client:
        page = (await client.get("/console")).text
    assert kind_options(page) == [
        ("", "not known"),
        ("consultation", "consultation (~12 min)"),
        ("pickup", "pickup (~2 min)"),
    ]
    assert kind_options(page, "LAB") == []  # a queue with one kind of visit asks nothing


async def test_a_walk_in_with_a_kind_shows_it_on_the_board(api: Api) -> None:
    await create_queue(api, service_times_s=KINDS)
    async with console_client(api, "staff") as client:
        added = await add_walk_in(client, name="Ana Lima", service="consultation")
        assert added.status_code == 200, added.text
        assert "Added <b>A-001</b>" in added.text
        assert (await add_walk_in(client, name="Bo Chen")).status_code == 200
        board = (await client.get("/console/queues/PHARM/board")).text
    assert [(w["number"], w["service"]) for w in (await status(api))["waiting"]] == [
        ("A-001", "consultation"),
        ("A-002", None),
    ]
    rows = {m[1]: m[0] for m in re.finditer(r'data-number="(A-\d+)".*?</tr>', board, re.S)}
    assert '<small class="muted kind">consultation</small>' in rows["A-001"]
    assert 'class="muted kind"' not in rows["A-002"]
    # The learned (so far configured) time of each kind is shown with the service time.
    assert "consultation 12 min" in board and "pickup 2 min" in board


async def test_an_unknown_kind_is_shown_next_to_the_select_and_nothing_is_added(
    api: Api,
) -> None:
    await create_queue(api, service_times_s=KINDS)
    async with console_client(api, "staff") as client:
        refused = await add_walk_in(client, name="Cy", service="surgery")
    assert refused.status_code == 422, refused.text
    field = re.search(r"<label>Kind of visit.*?</label>", refused.text, re.S)
    assert field, refused.text
    assert 'aria-invalid="true"' in field.group(0)
    assert "unknown kind of visit &#39;surgery&#39;" in field.group(0)
    assert 'value="Cy"' in refused.text  # what was typed is kept
    assert (await status(api))["size"] == 0
