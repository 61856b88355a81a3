"""A whole visit played on the console's patient simulator, in Chromium: an SMS patient and
a Telegram patient join, staff call them through the API, and what NextUp sends them
appears in the dev inbox by itself; the Telegram patient answers the call with its button."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page, expect

from core.delivery.dispatcher import Dispatcher
from nextup.wiring import Container
from tests.browser.conftest import log_in, screenshot
from tests.conftest import Api

PHONE = "+15550100001"
CHAT = "100001"


@pytest.fixture
async def dispatcher(api: Api) -> AsyncIterator[Dispatcher]:
    """Sends notifications into the dev inbox, as `nextup serve` does in development."""
    container: Container = api.app.ctx.container
    dispatcher = container.notification_dispatcher(poll_interval_s=0.2)
    task = asyncio.create_task(dispatcher.run())
    yield dispatcher
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await dispatcher.close()


async def send_as_patient(page: Page, text: str) -> None:
    await page.fill("#sim-text", text)
    await page.click("#sim-form button.primary")


async def call_next(api: Api, counter: str) -> dict[str, str]:
    response = await api.call(
        "POST", "/api/v1/queues/PHARM/call-next", role="staff", json={"counter": counter}
    )
    assert response.status_code == 200, response.text
    called: dict[str, str] = response.json()
    return called


async def test_a_visit_played_on_the_simulator(
    page: Page, api: Api, dispatcher: Dispatcher
) -> None:
    created = await api.call(
        "POST",
        "/api/v1/queues",
        json={
            "code": "PHARM",
            "name": "Pharmacy",
            "public_name": "Pharmacy",
            "prefix": "A",
            "counters": ["1", "2"],
        },
    )
    assert created.status_code == 201, created.text
    await log_in(page, api, role="staff")
    await page.click("nav >> text=Dev inbox")
    await expect(page).to_have_url(f"{api.base_url}/console/inbox")
    messages = page.locator("#inbox-list li.msg")
    await expect(page.locator(".inbox-empty")).to_contain_text("Nothing sent yet")

    # An SMS patient joins: the answer shows in the transcript and in the inbox.
    await expect(page.locator("#sim-phone")).to_have_value(PHONE)
    await send_as_patient(page, "JOIN PHARM")
    turn = page.locator("#sim-transcript .turn").first
    await expect(turn.locator(".turn-said")).to_contain_text("JOIN PHARM")
    await expect(turn.locator(".turn-answer")).to_contain_text("ticket A-001")
    await expect(messages).to_have_count(1)
    await expect(messages.first.locator(".msg-to")).to_have_text(PHONE)
    await expect(messages.first.locator(".msg-ticket")).to_have_text("A-001")
    await expect(page.locator("#sim-text")).to_have_value("")  # ready for the next one

    # Staff call them: the "called" SMS arrives in the inbox without a reload.
    await call_next(api, "1")
    await expect(messages).to_have_count(2)
    await expect(messages.first).to_contain_text("it's your turn! Please go to counter 1 now.")
    await expect(messages.first.locator(".msg-kind")).to_have_text("called")

    # A Telegram patient joins by the poster's deep link.
    await page.check("input[name=channel][value=telegram]")
    await expect(page.locator("#sim-phone")).to_be_hidden()
    await expect(page.locator("#sim-chat")).to_have_value(CHAT)
    await send_as_patient(page, "/start q_PHARM")
    welcome = messages.filter(has_text="You're in the Pharmacy queue")
    await expect(welcome).to_have_count(1)
    await expect(welcome.locator(".msg-to")).to_have_text(CHAT)
    await expect(welcome).to_contain_text("Your number: A-002")
    shown = await welcome.locator(".msg-text").inner_text()  # as rendered: lines kept
    assert "Your number: A-002\nYou are next in line" in shown

    await send_as_patient(page, "/late 10")
    await expect(page.locator("#sim-transcript .turn").first).to_contain_text("/late 10")

    # Called: the message has its "I'm on my way" button, pressed here as the patient.
    ticket = await call_next(api, "2")
    assert ticket["number"] == "A-002"
    call = messages.filter(has_text="It's your turn, A-002")
    await expect(call).to_have_count(1)
    button = call.get_by_role("button", name="I'm on my way")
    await expect(button).to_be_visible()
    await screenshot(page, "inbox")
    await button.click()
    await expect(page.locator("#toast")).to_contain_text("The staff know you are on your way")
    await expect(button).to_have_count(0)  # used: the bot removed it
    pressed = page.locator("#sim-transcript .turn").first
    await expect(pressed).to_contain_text("[I'm on my way]")
    seen = await api.call("GET", f"/api/v1/tickets/{ticket['id']}", role="staff")
    assert seen.json()["acknowledged_at"] is not None

    # Following one patient: the filter keeps only their messages, and polls on.
    await page.fill("#inbox-recipient", PHONE)
    await expect(messages).to_have_count(2)
    await page.fill("#inbox-recipient", "")
    # Two SMS, and on Telegram: joined, the offer to text a missed call, the /late answer,
    # called.
    await expect(messages).to_have_count(6)
    await expect(messages.filter(has_text="In case you miss a message here")).to_have_count(1)


async def test_bad_input_is_explained_in_the_form(page: Page, api: Api) -> None:
    await log_in(page, api)
    await page.goto(f"{api.base_url}/console/inbox")
    await page.fill("#sim-phone", "not a phone")
    await send_as_patient(page, "STATUS")
    await expect(page.locator("#sim-phone-error")).to_contain_text("is not a phone number")
    await expect(page.locator("#sim-phone")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#sim-text")).to_have_value("STATUS")  # kept, to fix and resend
    await page.check("input[name=channel][value=telegram]")
    await page.fill("#sim-chat", "12ab")
    await send_as_patient(page, "/status")
    await expect(page.locator("#sim-chat-error")).to_contain_text("positive whole number")
    await expect(page.locator("#sim-transcript .turn")).to_have_count(0)
