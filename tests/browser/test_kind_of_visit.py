"""The patient page's kind of visit in a real browser on a phone: one tap sets it, the page
comes back with the choice pressed and the new place; the live feed then moves it on, and
shows a choice made elsewhere (Telegram, SMS) without a reload."""

from __future__ import annotations

from playwright.async_api import Page, expect

from nextup.wiring import Container
from tests.browser.conftest import screenshot
from tests.browser.test_ticket_page import API, phone, ticket  # noqa: F401 (fixture)
from tests.conftest import Api
from tests.patient_tokens import with_token


async def test_a_tap_sets_the_kind_and_the_page_shows_it(
    phone: Page,  # noqa: F811
    api: Api,
    container: Container,
) -> None:
    body = {
        "code": "CLINIC",
        "name": "Clinic",
        "prefix": "C",
        "counters": ["1"],
        "mode": "short_first",
        "service_times_s": {"pickup": 120, "consultation": 900},
        "fairness_cap_s": 3600,  # a cap a consultation can keep: shorter visits may pass it
    }
    assert (await api.call("POST", f"{API}/queues", json=body)).status_code == 201
    slow = {"default_service_s": 1200}
    assert (await api.call("PUT", f"{API}/queues/CLINIC/config", json=slow)).status_code == 200
    joins = [{"service": "consultation"}, {"phone": "+15557770101"}]
    tickets = []
    for join in joins:
        joined = await api.call("POST", f"{API}/queues/CLINIC/tickets", json=join)
        assert joined.status_code == 201, joined.text
        tickets.append(await with_token(joined.json()))
    mine = tickets[1]

    await phone.goto(f"{api.base_url}/t/{mine['token']}")
    await expect(phone.locator("#position")).to_have_text("Position 2 in line")
    await expect(phone.locator(".kind-question")).to_have_text("What is your visit for?")
    not_sure = phone.get_by_role("button", name="Not sure")
    await expect(not_sure).to_have_attribute("aria-pressed", "true")

    await phone.get_by_role("button", name="Pickup").click()

    await expect(phone.locator(".flash-message")).to_contain_text("worked out again")
    await expect(phone.locator(".kind-help")).to_have_text("Your visit: Pickup")
    await expect(phone.get_by_role("button", name="Pickup")).to_have_attribute(
        "aria-pressed", "true"
    )
    await expect(phone.locator("#position")).to_have_text("You are next")
    await screenshot(phone, "patient-kind")
    assert (await ticket(api, mine["id"]))["service"] == "pickup"

    # Changed by Telegram while the page is open: the page follows, no reload.
    await container.queues.on_ticket(
        mine["id"],
        lambda q, now: q.choose_service(mine["id"], "consultation", now, "patient:telegram"),
    )
    await expect(phone.locator(".kind-help")).to_have_text("Your visit: Consultation")
    await expect(phone.get_by_role("button", name="Consultation")).to_have_attribute(
        "aria-pressed", "true"
    )
    await expect(phone.get_by_role("button", name="Pickup")).to_have_attribute(
        "aria-pressed", "false"
    )
    await expect(phone.locator("#position")).to_have_text("Position 2 in line")
    await container.queues.on_ticket(
        mine["id"], lambda q, now: q.choose_service(mine["id"], None, now, "patient:sms")
    )
    await expect(phone.locator(".kind-help")).to_have_text(
        "It helps us tell you your wait better. Not sure? That is fine too."
    )
    await expect(not_sure).to_have_attribute("aria-pressed", "true")
    await container.queues.on_ticket(
        mine["id"], lambda q, now: q.choose_service(mine["id"], "pickup", now, "patient:sms")
    )
    await expect(phone.locator("#position")).to_have_text("You are next")

    # Called: the live page hides the choices with the other actions.
    await api.call("POST", f"{API}/queues/CLINIC/call-next", json={"counter": "1"})
    await expect(phone.locator("#state")).to_have_text("Called \u2013 go to counter 1")
    await expect(phone.locator(".kind-form")).to_be_hidden()
