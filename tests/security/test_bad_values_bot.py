"""Point 7, Telegram: a digit int() cannot read is a usage hint, not an apology; an update
nested too deeply for the JSON parser is a 400."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bot.webhook import SECRET_HEADER, webhook_blueprint
from tests.bot.conftest import Live, live, tg
from tests.servers import serve, shut
from web.app import create_app

__all__ = ["live", "tg"]  # the bot tests' fixtures, used here by name
SECRET = "webhook-secret-for-tests"


@pytest.mark.parametrize("minutes", ["\u19da", "\u00b2", "1\u19da", "9" * 5000])
async def test_late_with_a_number_int_cannot_read_gets_the_usage_hint(
    live: Live, minutes: str
) -> None:
    answer = await live.reply_to(7001, f"/late {minutes}", "minutes")
    assert "Tell us how many minutes" in answer.text
    assert not [m for m in live.tg.messages_to(7001) if "Sorry" in m.text]


@pytest.mark.parametrize("score", ["\u19da", "\u00b2", "9" * 5000])
async def test_a_rating_button_with_such_a_digit_is_not_understood(live: Live, score: str) -> None:
    query_id = await live.tg.press_button(7002, 1, f"rate:abc:{score}")
    async with asyncio.timeout(5):
        while not [a for a in live.tg.callback_answers if a.callback_query_id == query_id]:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    answer = next(a for a in live.tg.callback_answers if a.callback_query_id == query_id)
    assert answer.text is not None and "went wrong" not in answer.text


async def test_an_update_nested_too_deeply_is_a_400(live: Live) -> None:
    assert live.container.telegram is not None
    app = create_app(live.container, name="nested-webhook")
    app.blueprint(
        webhook_blueprint(live.container.telegram.bot, live.container.telegram.dispatcher, SECRET)
    )
    server, base_url = await serve(app)
    try:
        async with httpx.AsyncClient(base_url=base_url) as client:
            nested = b"[" * 30_000 + b"]" * 30_000  # under the body limit
            response = await client.post(
                "/hooks/telegram", content=nested, headers={SECRET_HEADER: SECRET}
            )
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "malformed_json"
    finally:
        await shut(server)
