"""Joining from the poster with nothing but a browser, over HTTP: the form at
`/q/{code}/join`, the ticket it makes through the same service as every other join, and
what keeps the public form from being abused (signed form token, other sites, per-address
limit)."""

from __future__ import annotations

import asyncio
import re
from typing import Any, cast

import httpx
import pytest

from core.storage.models import ConsentRow
from nextup.wiring import Container
from tests.api.helpers import API, create_queue, join
from tests.conftest import Api
from web.public.join import accepted_language
from web.public.join_guard import JOINS_PER_ADDRESS, FormTokens, SlidingWindow
from web.public.poster import BotLinks

TOKEN = re.compile(r'name="form_token" value="([^"]+)"')


async def form(api: Api, code: str = "PHARM", **headers: str) -> tuple[httpx.Response, str]:
    page = await api.call("GET", f"/q/{code}/join", role=None, headers=headers)
    assert page.status_code == 200, page.text
    found = TOKEN.search(page.text)
    assert found is not None, page.text
    return page, found.group(1)


async def post(
    api: Api,
    code: str = "PHARM",
    token: str | None = None,
    headers: dict[str, str] | None = None,
    **fields: str,
) -> httpx.Response:
    if token is None:
        _, token = await form(api, code)
    data = {"form_token": token, **fields}
    return await api.call("POST", f"/q/{code}/join", role=None, data=data, headers=headers or {})


async def waiting(api: Api, code: str = "PHARM") -> list[dict[str, Any]]:
    status = await api.call("GET", f"{API}/queues/{code}/status")
    assert status.status_code == 200, status.text
    line: list[dict[str, Any]] = status.json()["waiting"]
    return line


async def ticket_record(api: Api, ticket_id: str) -> dict[str, Any]:
    response = await api.call("GET", f"{API}/tickets/{ticket_id}")
    assert response.status_code == 200, response.text
    record: dict[str, Any] = response.json()
    return record


# -- the form ------------------------------------------------------------------------------


async def test_the_form_asks_name_phone_and_nothing_else(api: Api) -> None:
    await create_queue(api, name="Pharmacy")

    page, token = await form(api, "pharm")

    assert page.headers["cache-control"] == "private, no-store"
    assert '<html lang="en">' in page.text and "Join the queue" in page.text
    assert 'name="name"' in page.text and 'type="tel"' in page.text
    assert 'action="/q/PHARM/join"' in page.text
    assert 'name="kind"' not in page.text  # the queue offers no kinds of visit
    assert "viewport" in page.text and "<script" not in page.text
    assert FormTokens("test-key").valid("PHARM", token)


async def test_the_form_offers_the_queues_kinds_of_visit(api: Api) -> None:
    await create_queue(api, service_times_s={"pickup": 120, "vaccine": 600})

    page, _ = await form(api)

    assert 'name="kind" value="pickup"> Pickup</label>' in page.text
    assert 'name="kind" value="vaccine"> Vaccine</label>' in page.text
    assert "Not sure" in page.text
    spanish, _ = await form(api, **{"Accept-Language": "es"})
    assert 'name="kind" value="pickup"> Recogida</label>' in spanish.text
    assert 'name="kind" value="vaccine"> Vacuna</label>' in spanish.text


async def test_the_form_speaks_the_browsers_language_else_the_queues(api: Api) -> None:
    await create_queue(api, name="Farmacia")
    spanish, _ = await form(api, **{"Accept-Language": "fr-FR,es;q=0.8,en;q=0.5"})
    assert '<html lang="es">' in spanish.text and "Únase a la fila" in spanish.text

    changed = await api.call("PUT", f"{API}/queues/PHARM/config", json={"language": "es"})
    assert changed.status_code == 200, changed.text
    queue_language, _ = await form(api)
    assert '<html lang="es">' in queue_language.text
    english, _ = await form(api, **{"Accept-Language": "en-GB"})
    assert '<html lang="en">' in english.text


async def test_an_unknown_queue_is_the_not_found_page(api: Api) -> None:
    for method in ("GET", "POST"):
        response = await api.call(method, "/q/NOPE/join", role=None, data={})
        assert response.status_code == 404
        assert "Queue not found" in response.text
        assert response.headers["content-type"].startswith("text/html")


# -- joining -------------------------------------------------------------------------------


async def test_joining_lands_on_the_ticket_page_and_texts_the_phone(api: Api) -> None:
    await create_queue(api, service_times_s={"pickup": 120})
    await join(api, name="Walk-in")

    response = await post(api, name=" Ada Lovelace ", phone="+44 7700 900123", kind="pickup")

    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert re.fullmatch(r"/t/[A-Za-z0-9_-]{20,}", location)
    line = await waiting(api)
    assert [t["position"] for t in line] == [1, 2]
    record = await ticket_record(api, line[1]["id"])
    assert record["name"] == "Ada Lovelace" and record["phone"] == "+447700900123"
    assert record["service"] == "pickup"
    joined = [e for e in record["history"] if e["type"] == "ticket_joined"]
    assert [e["actor"] for e in joined] == ["patient:web"]
    assert [e["data"]["consent"] for e in joined] == ["web_join"]  # the consent record's
    consent = await ConsentRow.get(ticket_id=line[1]["id"])
    assert (consent.channel, consent.method) == ("sms", "web_join")
    sms = [n for n in record["notifications"] if n["channel"] == "sms"]
    assert [n["kind"] for n in sms] == ["joined"]

    page = await api.client.get(location)
    assert page.status_code == 200
    assert "A-002" in page.text and "You are in the line" in page.text


async def test_joining_with_nothing_but_the_button(api: Api) -> None:
    await create_queue(api)

    response = await post(api, name="", phone="")

    assert response.status_code == 303
    (only,) = await waiting(api)
    record = await ticket_record(api, only["id"])
    assert record["name"] is None and record["phone"] is None
    assert record["notifications"] == []  # nobody to text: the page is the alert
    assert not await ConsentRow.filter(ticket_id=only["id"]).exists()  # nor asked to be


async def test_the_ticket_speaks_the_language_the_form_was_read_in(api: Api) -> None:
    await create_queue(api)

    response = await post(api, headers={"Accept-Language": "es-ES,es;q=0.9"})

    page = await api.client.get(response.headers["location"])
    assert '<html lang="es">' in page.text and "Su turno" in page.text


@pytest.mark.parametrize("phone", ["12", "07700 900123", "call me", "+1 555"])
async def test_a_bad_phone_shows_the_form_again_with_what_to_fix(api: Api, phone: str) -> None:
    await create_queue(api)

    response = await post(api, name="Ada", phone=phone)

    assert response.status_code == 422
    assert "That phone number does not look right" in response.text
    assert 'value="Ada"' in response.text  # what was typed is kept
    assert await waiting(api) == []


async def test_a_bad_phone_in_spanish(api: Api) -> None:
    await create_queue(api)

    response = await post(api, phone="abc", headers={"Accept-Language": "es"})

    assert response.status_code == 422
    assert "Ese número de teléfono no parece correcto" in response.text


async def test_a_kind_the_queue_does_not_offer_is_refused(api: Api) -> None:
    await create_queue(api, service_times_s={"pickup": 120})

    response = await post(api, kind="surgery")

    assert response.status_code == 422 and "Choose a kind of visit" in response.text
    assert await waiting(api) == []


async def test_a_full_queue_says_so(api: Api) -> None:
    await create_queue(api, capacity=1)
    await join(api)

    response = await post(api, name="Ada")

    assert response.status_code == 409
    assert "The queue is full" in response.text
    assert len(await waiting(api)) == 1


async def test_a_full_queue_sends_the_patient_to_its_overflow_queue(api: Api) -> None:
    await create_queue(api, code="MORE", prefix="M")
    await create_queue(api, capacity=1, overflow_queue="MORE")
    await join(api)

    response = await post(api)

    assert response.status_code == 303
    page = await api.client.get(response.headers["location"])
    assert "M-001" in page.text


async def test_a_phone_that_already_has_a_ticket_never_gets_its_page(api: Api) -> None:
    await create_queue(api)
    theirs = await join(api, phone="+447700900123")
    assert (await post(api, name="Someone before")).status_code == 303

    response = await post(api, phone="+44 7700 900123")

    assert response.status_code == 409
    assert "already has a ticket" in response.text
    assert theirs["token"] not in response.text and "location" not in response.headers
    assert len(await waiting(api)) == 2


# -- abuse ---------------------------------------------------------------------------------


async def test_a_post_without_the_forms_token_is_refused(api: Api) -> None:
    await create_queue(api)

    for token in ("", "123.abc", FormTokens("another-key").issue("PHARM")):
        response = await post(api, token=token, name="Mallory")
        assert response.status_code == 403, token
        assert "This form was open too long" in response.text
        assert TOKEN.search(response.text), "a fresh form comes back"
    assert await waiting(api) == []


async def test_a_token_for_another_queue_or_too_old_is_refused(api: Api) -> None:
    await create_queue(api)
    await create_queue(api, code="OTHER", prefix="O")
    _, other = await form(api, "OTHER")
    old = FormTokens("test-key").issue("PHARM", now_s=0)

    for token in (other, old):
        assert (await post(api, token=token)).status_code == 403
    assert await waiting(api) == []


async def test_a_post_from_another_site_is_refused(api: Api) -> None:
    await create_queue(api)

    response = await post(api, headers={"Origin": "https://evil.example"}, name="Mallory")

    assert response.status_code == 403
    assert "another website" in response.text
    assert await waiting(api) == []
    same_site = await post(api, headers={"Origin": api.base_url})
    assert same_site.status_code == 303


async def test_one_address_joins_only_so_often(api: Api) -> None:
    await create_queue(api)
    for _ in range(JOINS_PER_ADDRESS):
        assert (await post(api)).status_code == 303

    response = await post(api, name="One more")

    assert response.status_code == 429
    assert 0 < int(response.headers["retry-after"]) <= 600
    assert "Too many tickets from this connection" in response.text
    assert len(await waiting(api)) == JOINS_PER_ADDRESS


# -- the poster ----------------------------------------------------------------------------


async def test_the_poster_always_has_the_join_qr_code(api: Api) -> None:
    await create_queue(api, name="Pharmacy")

    poster = await api.call("GET", "/q/pharm/poster", role=None)

    assert poster.status_code == 200
    assert poster.text.count("<svg") == 1  # no Telegram here: the web join only
    assert "http://127.0.0.1:8000/q/PHARM/join" in poster.text  # the configured base URL
    assert "Neither Telegram nor SMS" not in poster.text


# -- the parts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, None),
        ("", None),
        ("es", "es"),
        ("es-MX,es;q=0.9,en;q=0.8", "es"),
        ("fr-FR,fr;q=0.9,en;q=0.5,es;q=0.4", "en"),
        ("de, es;q=0.1", "es"),
        ("en;q=0, es;q=0.2", "es"),
        ("*", None),
        ("es;q=abc, en", "en"),
    ],
)
def test_accept_language_picks_the_best_language_we_speak(
    header: str | None, language: str | None
) -> None:
    assert accepted_language(header) == language


def test_form_tokens_expire_and_belong_to_one_queue() -> None:
    tokens = FormTokens("k", max_age_s=60)
    token = tokens.issue("PHARM", now_s=1000)
    assert tokens.valid("PHARM", token, now_s=1059)
    assert not tokens.valid("PHARM", token, now_s=1061)
    assert not tokens.valid("PHARM", token, now_s=999)  # from the future
    assert not tokens.valid("OTHER", token, now_s=1001)
    assert not tokens.valid("PHARM", token.replace(".", ".0"), now_s=1001)
    assert not tokens.valid("PHARM", None)
    mac = token.partition(".")[2]
    assert not tokens.valid("PHARM", f"᧚.{mac}")  # a digit to isdigit(), not to int()


def test_the_window_lets_joins_in_again_as_old_ones_leave_it() -> None:
    window = SlidingWindow(max_hits=2, window_s=100)
    assert window.hit("a", now=0) == 0 and window.hit("a", now=10) == 0
    assert window.hit("a", now=50) == 50  # until the first hit leaves the window
    assert window.hit("b", now=50) == 0  # another address is counted apart
    assert window.hit("a", now=100) == 0
    assert window.hit("a", now=101) == 9


def test_the_window_forgets_idle_addresses() -> None:
    window = SlidingWindow(max_hits=1, window_s=10)
    window.MAX_KEYS = 3
    for n in range(4):
        window.hit(f"ip:{n}", now=0)
    window.hit("ip:late", now=20)
    assert set(window._hits) == {"ip:late"}


async def test_with_twilio_set_up_the_form_and_a_bare_ticket_offer_texting(api: Api) -> None:
    container = api.app.ctx.container
    container.settings = container.settings.model_copy(
        update={"twilio_account_sid": "AC1", "twilio_auth_token": "t", "twilio_from": "+15550001"}
    )
    await create_queue(api)

    page, _ = await form(api)
    assert "Text JOIN PHARM to +15550001" in page.text
    response = await post(api)
    ticket_page = await api.client.get(response.headers["location"])
    assert "Text JOIN PHARM to +15550001" in ticket_page.text
    assert "a new number at the end of the line" in ticket_page.text
    spanish, _ = await form(api, **{"Accept-Language": "es"})
    assert "Envíe UNIRSE PHARM al +15550001" in spanish.text


class SlowTelegram:
    """A container whose Telegram does not answer."""

    def __init__(self) -> None:
        self.asked = 0

    async def telegram_deep_link(self, code: str) -> str | None:
        self.asked += 1
        await asyncio.sleep(60)
        return None


async def test_pages_do_not_wait_on_telegram_again_and_again() -> None:
    telegram = SlowTelegram()
    links = BotLinks(timeout_s=0.05, retry_s=60)

    assert await links.link(cast(Container, telegram), "PHARM") is None
    assert await links.link(cast(Container, telegram), "PHARM") is None
    assert telegram.asked == 1  # the second page went on without asking

    links.retry_s = 0
    assert await links.link(cast(Container, telegram), "PHARM") is None
    assert telegram.asked == 2
