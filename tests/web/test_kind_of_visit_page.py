"""The patient page's kind of visit: a button per kind the queue offers and "Not sure",
the current one shown, set by a plain form (no JavaScript needed) while waiting only."""

from __future__ import annotations

import html
from typing import Any

import pytest

from tests.api.helpers import API, create_queue, join
from tests.conftest import Api
from tests.web.test_public_pages import form_post, status_of

KINDS = {"pickup": 120, "consultation": 900, "flu_shot": 300}


async def line_of_three(api: Api) -> list[dict[str, Any]]:
    """Short visits first, where an unknown kind counts as the default 1200 s."""
    # a fairness cap a consultation can keep (900 s, sure to be over within 2,250 s):
    # shorter visits may pass it
    config = {"mode": "short_first", "service_times_s": KINDS, "fairness_cap_s": 3600}
    await create_queue(api, public_name="Clinic", **config)
    response = await api.call("PUT", f"{API}/queues/PHARM/config", json={"default_service_s": 1200})
    assert response.status_code == 200, response.text
    first = await join(api, service="consultation")
    second = await join(api, service="consultation")
    me = await join(api, phone="+15557770101")
    return [first, second, me]


async def test_the_page_offers_the_kinds_and_the_choice_moves_the_patient_up(api: Api) -> None:
    *_, me = await line_of_three(api)
    page = html.unescape((await api.call("GET", f"/t/{me['token']}", role=None)).text)
    assert "What is your visit for?" in page
    assert f'action="/t/{me["token"]}/kind"' in page
    for value, shown in (("consultation", "Consultation"), ("flu_shot", "Flu shot")):
        assert f'value="{value}" aria-pressed="false">{shown}</button>' in page
    assert 'name="not_sure" value="1" aria-pressed="true">Not sure</button>' in page
    assert (await status_of(api, me["id"]))["position"] == 3

    response = await form_post(api, f"/t/{me['token']}/kind", kind="pickup")

    assert response.status_code == 303
    ticket = await status_of(api, me["id"])
    assert ticket["service"] == "pickup" and ticket["position"] == 1
    [event] = [e for e in ticket["history"] if e["type"] == "ticket_service_chosen"]
    assert event["actor"] == "patient:web"
    page = html.unescape((await api.client.get(f"/t/{me['token']}")).text)
    assert "Thanks \u2013 your wait has been worked out again." in page
    assert "Your visit: Pickup" in page
    assert 'value="pickup" aria-pressed="true">Pickup</button>' in page
    assert "Next" in page or "You are next" in page

    assert (await form_post(api, f"/t/{me['token']}/kind", not_sure="1")).status_code == 303
    assert (await status_of(api, me["id"]))["service"] is None


@pytest.mark.parametrize("form", [{"kind": "x-ray"}, {"kind": ""}, {}])
async def test_a_kind_not_offered_is_refused(api: Api, form: dict[str, str]) -> None:
    *_, me = await line_of_three(api)
    response = await form_post(api, f"/t/{me['token']}/kind", **form)
    assert response.status_code == 422
    assert "Choose one of the kinds of visit listed." in response.text
    assert (await status_of(api, me["id"]))["service"] is None


async def test_spanish_labels(api: Api) -> None:
    await create_queue(api, service_times_s=KINDS)
    me = await join(api, language="es")
    page = html.unescape((await api.call("GET", f"/t/{me['token']}", role=None)).text)
    assert "¿A qué viene?" in page
    assert ">Recogida</button>" in page and ">Consulta</button>" in page
    assert ">No lo sé</button>" in page


async def test_no_kinds_no_question_and_nothing_after_the_call(api: Api) -> None:
    await create_queue(api)
    plain = await join(api)
    page = (await api.call("GET", f"/t/{plain['token']}", role=None)).text
    assert "/kind" not in page and "visit for" not in page

    await create_queue(api, code="CLIN", prefix="C", service_times_s=KINDS)
    me = await join(api, code="CLIN")
    await api.call("POST", f"{API}/queues/CLIN/call-next", json={"counter": "1"})
    response = await form_post(api, f"/t/{me['token']}/kind", kind="pickup")
    assert response.status_code == 409
    assert "You have been called already" in response.text
    assert (await status_of(api, me["id"]))["service"] is None


async def test_a_post_from_another_site_is_refused(api: Api) -> None:
    *_, me = await line_of_three(api)
    response = await form_post(api, f"/t/{me['token']}/kind", origin="https://evil.example")
    assert response.status_code == 403
    assert (await status_of(api, me["id"]))["service"] is None
    missing = await form_post(api, "/t/not-a-token/kind", kind="pickup")
    assert missing.status_code == 404
