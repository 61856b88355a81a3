"""The settings page's opening hours over HTTP: the week, closures, what closing does and
the closing-time refusal are shown, saved through the same rules as the API, and a bad
interval is shown next to its own weekday with nothing saved."""

from __future__ import annotations

from typing import Any

from tests.api.helpers import API
from tests.conftest import Api
from tests.web.test_settings_page import Console, Dom, admin, field_error, pharm

__all__ = ["admin", "pharm"]  # fixtures, used by name


async def stored(api: Api) -> dict[str, Any]:
    response = await api.call("GET", f"{API}/queues/PHARM/config")
    assert response.status_code == 200, response.text
    config: dict[str, Any] = response.json()
    return config


async def test_a_queue_without_hours_offers_a_usual_week_unticked(
    api: Api, admin: Console, pharm: dict[str, Any]
) -> None:
    _, dom = await admin.page()
    fields = dict(dom.form_fields())
    assert "hours_enabled" not in fields  # unticked: always open
    assert fields["hours_mon"] == "09:00-17:00" and fields["hours_sun"] == ""
    assert fields["on_close"] == "serve_remaining"
    assert fields["refuse_past_closing"] == "on"
    assert fields["hours_shown"] == "1"


async def test_hours_closures_and_closing_are_saved(
    api: Api, admin: Console, pharm: dict[str, Any]
) -> None:
    response = await admin.submit(
        hours_enabled="on",
        hours_mon="8:00-13:00, 14:00\u201318:00",
        hours_fri="22:00-02:00",
        hours_sat="",
        closures="2026-12-25\n2026-01-01",
        on_close="close_remaining",
        refuse_past_closing=[],
    )
    assert response.status_code == 303, response.text
    config = await stored(api)
    assert config["opening_hours"]["mon"] == [["08:00", "13:00"], ["14:00", "18:00"]]
    assert config["opening_hours"]["tue"] == [["09:00", "17:00"]]  # as offered
    assert config["opening_hours"]["fri"] == [["22:00", "02:00"]]
    assert config["opening_hours"]["sat"] == []
    assert config["closures"] == ["2026-01-01", "2026-12-25"]
    assert (config["on_close"], config["refuse_past_closing"]) == ("close_remaining", False)
    _, dom = await admin.page()
    fields = dict(dom.form_fields())
    assert fields["hours_mon"] == "08:00-13:00, 14:00-18:00"
    assert fields["closures"] == "2026-01-01\n2026-12-25"
    # Unticking the box goes back to always open; the closures stay.
    response = await admin.submit(hours_enabled=[])
    assert response.status_code == 303, response.text
    config = await stored(api)
    assert config["opening_hours"] is None and config["closures"] == ["2026-01-01", "2026-12-25"]


async def test_a_bad_interval_is_shown_next_to_its_weekday(
    api: Api, admin: Console, pharm: dict[str, Any]
) -> None:
    response = await admin.submit(hours_enabled="on", hours_wed="9-17")
    assert response.status_code == 422
    dom = Dom(response.text)
    assert "write times like 08:00-13:00" in field_error(dom, "hours_wed")
    response = await admin.submit(hours_enabled="on", hours_thu="08:00-12:00, 11:00-13:00")
    assert response.status_code == 422
    assert "overlaps" in field_error(Dom(response.text), "hours_thu")
    response = await admin.submit(closures="25/12/2026")
    assert response.status_code == 422
    assert "YYYY-MM-DD" in field_error(Dom(response.text), "closures")
    assert (await stored(api))["opening_hours"] is None  # nothing saved
