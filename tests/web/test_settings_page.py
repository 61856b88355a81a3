"""The admin's queue settings page over real HTTP: logged in through the login form, posting
the form as a browser would (every field as shown, with some changed)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.api.helpers import API, call_next, config, create_queue, join
from tests.conftest import Api
from tests.web.sessions import csrf_token
from tests.web.sessions import log_in as console_log_in

PAGE = "/console/queues/PHARM/settings"
FORM = {"content-type": "application/x-www-form-urlencoded"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


# -- a little DOM, enough to ask "is this error next to that input?" --------------------------


@dataclass(eq=False)
class Node:
    tag: str
    attrs: dict[str, str]
    parent: Node | None = None
    children: list[Node] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def text(self) -> str:
        parts = list(self.texts) + [child.text() for child in self.children]
        return " ".join(" ".join(parts).split())

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.walk()

    def closest(self, css_class: str) -> Node:
        node: Node | None = self
        while node is not None:
            if css_class in node.attrs.get("class", "").split():
                return node
            node = node.parent
        raise AssertionError(f"no .{css_class} around <{self.tag} {self.attrs}>")


class Dom(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__()
        self.root = self.current = Node("#root", {})
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "option" and self.current.tag == "option":  # its end tag may be left out
            self.current = self.current.parent or self.root
        node = Node(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.texts.append(data)

    def by_id(self, id_: str) -> Node:
        found = [n for n in self.root.walk() if n.attrs.get("id") == id_]
        assert len(found) == 1, f"{len(found)} elements with id {id_!r}"
        return found[0]

    def has_id(self, id_: str) -> bool:
        return any(n.attrs.get("id") == id_ for n in self.root.walk())

    def form_fields(self) -> list[tuple[str, str]]:
        """What a browser would submit for the settings form as it stands."""
        form = next(
            n
            for n in self.root.walk()
            if n.tag == "form" and "settings-form" in n.attrs.get("class", "")
        )
        pairs = []
        for node in form.walk():
            name = node.attrs.get("name")
            if not name:
                continue
            if node.tag == "input":
                kind = node.attrs.get("type", "text")
                if kind in ("checkbox", "radio") and "checked" not in node.attrs:
                    continue
                pairs.append((name, node.attrs.get("value", "on" if kind == "checkbox" else "")))
            elif node.tag == "select":
                options = [o for o in node.walk() if o.tag == "option"]
                chosen = next((o for o in options if "selected" in o.attrs), options[0])
                pairs.append((name, chosen.attrs.get("value", chosen.text())))
            elif node.tag == "textarea":  # its text as written, line breaks and all
                pairs.append((name, "".join(node.texts)))
        return pairs


def field_error(dom: Dom, name: str) -> str:
    """The error shown for an input, checked to sit in the same field box as the input."""
    control, error = dom.by_id(name), dom.by_id(f"{name}-error")
    box = control.closest("field")
    assert error in list(box.walk()), f"the error for {name} is not next to it"
    assert control.attrs.get("aria-invalid") == "true"
    assert f"{name}-error" in control.attrs.get("aria-describedby", "").split()
    return error.text()


def errors_shown(dom: Dom) -> set[str]:
    return {
        n.attrs["id"].removesuffix("-error")
        for n in dom.root.walk()
        if "field-error" in n.attrs.get("class", "").split()
    }


def changed(pairs: list[tuple[str, str]], **values: str | list[str]) -> list[tuple[str, str]]:
    """The form with some fields replaced (a list for a field sent several times)."""
    kept = [(k, v) for k, v in pairs if k not in values]
    for key, value in values.items():
        kept.extend((key, v) for v in ([value] if isinstance(value, str) else value))
    return kept


# -- a logged-in browser-like client ----------------------------------------------------------


@dataclass
class Console:
    client: httpx.AsyncClient
    csrf: str

    async def page(self, path: str = PAGE) -> tuple[httpx.Response, Dom]:
        response = await self.client.get(path)
        return response, Dom(response.text)

    async def post(self, pairs: list[tuple[str, str]], path: str = PAGE) -> httpx.Response:
        return await self.client.post(path, content=urlencode(pairs), headers=FORM)

    async def submit(self, **values: str | list[str]) -> httpx.Response:
        """Loads the form, changes some fields, posts it with the page's CSRF token."""
        response, dom = await self.page()
        assert response.status_code == 200, response.text
        return await self.post(changed(dom.form_fields(), **values))


async def log_in(api: Api, role: str) -> Console:
    client = httpx.AsyncClient(base_url=api.base_url, timeout=10)
    response = await console_log_in(client, f"{role}-user")
    assert response.status_code == 303, response.text
    return Console(client, await csrf_token(client))


@pytest.fixture
async def admin(api: Api) -> AsyncIterator[Console]:
    console = await log_in(api, "admin")
    yield console
    await console.client.aclose()


@pytest.fixture
async def pharm(api: Api) -> dict[str, Any]:
    await create_queue(api, "SPARE", prefix="S", counters=["1"])
    return await create_queue(api, "PHARM", counters=["1", "2"])


async def queue_counters(api: Api, code: str = "PHARM") -> dict[str, bool]:
    r = await api.call("GET", f"{API}/queues/{code}", role="staff")
    return {c["name"]: c["is_open"] for c in r.json()["counters"]}


# -- showing ----------------------------------------------------------------------------------


async def test_the_form_shows_the_stored_settings_in_minutes(
    api: Api, admin: Console, pharm: dict[str, Any]
) -> None:
    await api.call(
        "PUT",
        f"{API}/queues/PHARM/config",
        json={"no_show_grace_s": 90, "wait_alert_s": 2700, "capacity": 12, "mode": "dynamic"},
    )
    response, dom = await admin.page("/console/queues/pharm/settings")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    fields = dict(dom.form_fields())
    assert fields["csrf_token"] == admin.csrf
    assert fields["mode"] == "dynamic"
    assert (fields["weight_priority"], fields["weight_wait_time"]) == ("0.50", "0.30")
    assert fields["weight_appointment"] == "0.20"
    assert fields["capacity"] == "12"
    assert fields["overflow_queue"] == ""
    assert fields["notify_positions"] == "3, 1"
    assert fields["no_show_grace_min"] == "1.5"
    assert fields["wait_alert_min"] == "45"
    assert (fields["eta_change_margin_min"], fields["eta_update_interval_min"]) == ("10", "15")
    assert (fields["language"], fields["timezone"]) == ("en", "UTC")
    overflow = [n.attrs["value"] for n in dom.by_id("overflow_queue").walk() if n.tag == "option"]
    assert overflow == ["", "SPARE"]  # never the queue itself
    sliders = [dom.by_id(f"weight_{w}") for w in ("priority", "wait_time", "appointment")]
    assert all(s.attrs["type"] == "range" and s.attrs["step"] == "0.05" for s in sliders)
    assert dom.by_id("weight_priority-value").text() == "0.50"
    assert "only used in dynamic mode" in dom.root.text()
    assert fields["fairness_cap_min"] == "20"
    assert fields["service_times"] == ""
    assert fields["call_ladder"] == "sms 60\nvoice 60\nunreachable 90"
    modes = [n.attrs["value"] for n in dom.root.walk() if n.attrs.get("name") == "mode"]
    assert modes == ["fifo", "dynamic", "short_first"]
    assert [n.attrs["value"] for n in dom.root.walk() if n.attrs.get("name") == "open"] == [
        "1",
        "2",
    ]
    assert not errors_shown(dom)


# -- saving -----------------------------------------------------------------------------------


async def test_saving_applies_every_setting_through_the_api_services(
    api: Api, admin: Console, pharm: dict[str, Any]
) -> None:
    response = await admin.submit(
        mode="dynamic",
        weight_priority="0.8",
        weight_wait_time="0.15",
        weight_appointment="0",
        capacity="25",
        overflow_queue="SPARE",
        notify_positions="1; 5,  3",
        no_show_grace_min="2.5",
        wait_alert_min="30",
        eta_change_margin_min="5",
        eta_update_interval_min="20",
        fairness_cap_min="30",
        service_times="Pickup 2\r\n\r\n  consultation   12.5 min\r\n",
        call_ladder="SMS 45\r\n\r\nunreachable 120 s\r\n",
        language="es",
        timezone="Europe/Madrid",
        open=["1"],  # counter 2 closed
        new_counter="3",
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"{PAGE}?saved=1"
    assert await config(api) == {
        "weights": {"priority": 0.8, "wait_time": 0.15, "appointment": 0.0},
        "mode": "dynamic",
        "capacity": 25,
        "overflow_queue": "SPARE",
        "notify_positions": [5, 3, 1],
        "no_show_grace_s": 150,
        "default_service_s": 300,  # not on the page: kept
        "wait_horizon_s": 3600,
        "appointment_window_s": 1800,
        "timezone": "Europe/Madrid",
        "language": "es",
        "eta_change_margin_s": 300,
        "eta_update_interval_s": 1200,
        "wait_alert_s": 1800,
        "service_times_s": {"pickup": 120, "consultation": 750},
        "fairness_cap_s": 1800,
        "call_ladder": [{"step": "sms", "after_s": 45}, {"step": "unreachable", "after_s": 120}],
        "opening_hours": None,  # the box left unticked: always open
        "closures": [],
        "refuse_past_closing": True,
        "on_close": "serve_remaining",
    }
    assert await queue_counters(api) == {"1": True, "2": False, "3": True}

    _, dom = await admin.page(response.headers["location"])
    assert "Saved." in dom.root.text()
    fields = dict(dom.form_fields())
    assert (fields["notify_positions"], fields["wait_alert_min"]) == ("5, 3, 1", "30")
    assert fields["overflow_queue"] == "SPARE"
    assert [v for k, v in dom.form_fields() if k == "open"] == ["1", "3"]
    # Kinds of visit come back one a line, by name, in minutes.
    assert fields["service_times"] == "consultation 12.5\npickup 2"
    assert fields["fairness_cap_min"] == "30"
    assert fields["call_ladder"] == "sms 45\nunreachable 120"


async def test_short_visits_first_with_its_cap_and_kinds_is_saved_and_explained(
    api: Api, admin: Console, pharm: dict[str, Any]
) -> None:
    _, dom = await admin.page()
    choice = next(
        n for n in dom.root.walk() if n.tag == "input" and n.attrs.get("value") == "short_first"
    )
    explanation = (choice.parent or choice).text()
    assert "Short visits first" in explanation
    assert "expected to be shortest" in explanation
    assert "fairness cap" in explanation
    response = await admin.submit(
        mode="short_first", fairness_cap_min="15", service_times="pickup 2\nconsultation 10"
    )
    assert response.status_code == 303, response.text
    stored = await config(api)
    assert stored["mode"] == "short_first"
    assert (stored["fairness_cap_s"], stored["service_times_s"]) == (
        900,
        {"pickup": 120, "consultation": 600},
    )
    queue = (await api.call("GET", f"{API}/queues/PHARM", role="staff")).json()
    assert queue["mode"] == "short_first"
    _, dom = await admin.page()
    fields = dict(dom.form_fields())
    assert (fields["mode"], fields["fairness_cap_min"]) == ("short_first", "15")
    # Emptying the list takes the kinds away again.
    response = await admin.submit(service_times="")
    assert response.status_code == 303, response.text
    assert (await config(api))["service_times_s"] == {}


async def test_empty_capacity_and_positions_mean_no_limit_and_no_messages(
    api: Api, admin: Console, pharm: dict[str, Any]
) -> None:
    await api.call("PUT", f"{API}/queues/PHARM/config", json={"capacity": 9})
    response = await admin.submit(capacity="", notify_positions=" ", overflow_queue="")
    assert response.status_code == 303, response.text
    stored = await config(api)
    assert (stored["capacity"], stored["notify_positions"], stored["overflow_queue"]) == (
        None,
        [],
        None,
    )


async def test_a_field_left_out_of_the_post_keeps_its_value(
    api: Api, admin: Console, pharm: dict[str, Any]
) -> None:
    await api.call("PUT", f"{API}/queues/PHARM/config", json={"capacity": 9, "language": "es"})
    response = await admin.post([("csrf_token", admin.csrf), ("wait_alert_min", "20")])
    assert response.status_code == 303, response.text
    stored = await config(api)
    assert (stored["capacity"], stored["language"], stored["wait_alert_s"]) == (9, "es", 1200)
    assert await queue_counters(api) == {"1": True, "2": True}


async def test_removing_a_counter_and_a_counter_added_meanwhile_is_kept(
    api: Api, admin: Console, pharm: dict[str, Any]
) -> None:
    _, dom = await admin.page()
    shown = dom.form_fields()
    # Someone adds counter 9 through the API while the form is open.
    r = await api.call("PATCH", f"{API}/queues/PHARM", json={"counters": ["1", "2", "9"]})
    assert r.status_code == 200, r.text
    response = await admin.post(changed(shown, remove="1"))
    assert response.status_code == 303, response.text
    assert await queue_counters(api) == {"2": True, "9": True}


# -- refusing ---------------------------------------------------------------------------------


async def test_invalid_capacity_is_shown_next_to_it_and_nothing_changes(
    api: Api, admin: Console, pharm: dict[str, Any]
) -> None:
    before = await config(api)
    response = await admin.submit(
        capacity="0", weight_priority="0.9", wait_alert_min="25", open=["1"], new_counter="7"
    )
    assert response.status_code == 422, response.text
    dom = Dom(response.text)
    assert "capacity must be at least 1" in field_error(dom, "capacity")
    assert errors_shown(dom) == {"capacity"}
    assert "Nothing was saved" in dom.root.text()
    # What the admin typed is kept for them to fix the one field.
    fields = dict(dom.form_fields())
    assert (fields["capacity"], fields["weight_priority"]) == ("0", "0.9")
    assert (fields["wait_alert_min"], fields["new_counter"]) == ("25", "7")
    assert [v for k, v in dom.form_fields() if k == "open"] == ["1"]
    assert fields["csrf_token"] == admin.csrf
    assert await config(api) == before
    assert await queue_counters(api) == {"1": True, "2": True}


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"capacity": "ten"}, "capacity", "whole number"),
        ({"capacity": "-4"}, "capacity", "capacity must be at least 1"),
        ({"capacity": "99999999999"}, "capacity", "capacity must be at most 2147483647"),
        ({"capacity": "9" * 40}, "capacity", "whole number"),
        ({"overflow_queue": "PHARM"}, "overflow_queue", "cannot overflow into itself"),
        ({"overflow_queue": "nope"}, "overflow_queue", "there is no queue NOPE"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone", "unknown time zone"),
        ({"timezone": ""}, "timezone", "choose a time zone"),
        ({"notify_positions": "3, x"}, "notify_positions", "separated by commas"),
        ({"notify_positions": "0"}, "notify_positions", "1 or more"),
        ({"notify_positions": ",".join(map(str, range(1, 12)))}, "notify_positions", "at most"),
        ({"wait_alert_min": "0.5"}, "wait_alert_min", "between 1 and 1440"),
        ({"wait_alert_min": "1441"}, "wait_alert_min", "between 1 and 1440"),
        ({"no_show_grace_min": "-1"}, "no_show_grace_min", "between 0 and 1440"),
        ({"eta_change_margin_min": "soon"}, "eta_change_margin_min", "enter a number"),
        ({"eta_update_interval_min": "nan"}, "eta_update_interval_min", "enter a number"),
        ({"weight_priority": "1.5"}, "weight_priority", "between 0 and 1"),
        ({"weight_wait_time": "inf"}, "weight_wait_time", "enter a number"),
        ({"mode": "random"}, "mode", "FIFO, dynamic or short visits first"),
        ({"fairness_cap_min": "0.5"}, "fairness_cap_min", "between 1 and 240"),
        ({"fairness_cap_min": "241"}, "fairness_cap_min", "between 1 and 240"),
        ({"fairness_cap_min": "later"}, "fairness_cap_min", "enter a number"),
        ({"service_times": "pickup"}, "service_times", "line 1: write a kind and its minutes"),
        ({"service_times": "pickup 2\nhome visit 30"}, "service_times", "line 2: write a kind"),
        ({"service_times": "pickup two"}, "service_times", "enter minutes above 0"),
        ({"service_times": "pickup 0"}, "service_times", "enter minutes above 0"),
        ({"service_times": "pickup 481"}, "service_times", "up to 480"),
        ({"service_times": "pickup nan"}, "service_times", "enter minutes above 0"),
        (
            {"service_times": "pickup 2\nPICKUP 3"},
            "service_times",
            "line 2: pickup is listed twice",
        ),
        ({"service_times": "pick.up 2"}, "service_times", "kind of visit 'pick.up': use 1-32"),
        ({"service_times": "x" * 33 + " 2"}, "service_times", "use 1-32 lower-case letters"),
        (
            {"service_times": "\n".join(f"kind{i} 2" for i in range(13))},
            "service_times",
            "at most 12 kinds of visit",
        ),
        ({"call_ladder": "sms"}, "call_ladder", "line 1: write a step and its seconds"),
        ({"call_ladder": "sms 60\nfax 60"}, "call_ladder", "a call ladder rung is"),
        ({"call_ladder": "sms 60\nsms 90"}, "call_ladder", "each step"),
        ({"call_ladder": "unreachable 60\nsms 60"}, "call_ladder", "only be the last"),
        ({"call_ladder": "voice 5000"}, "call_ladder", "between 1 and 3600 seconds"),
        ({"language": "english"}, "language", "pattern"),
        ({"new_counter": "1"}, "new_counter", "there is a counter 1 already"),
        ({"new_counter": "x" * 33}, "new_counter", "1 to 32 characters"),
        ({"remove": ["1", "2"]}, "counters", "at least one counter"),
    ],
)
async def test_bad_input_is_shown_next_to_its_field_and_changes_nothing(
    api: Api,
    admin: Console,
    pharm: dict[str, Any],
    values: dict[str, str | list[str]],
    field: str,
    message: str,
) -> None:
    before = await config(api)
    # Alongside a valid change, which must not be saved either.
    response = await admin.submit(**({"wait_alert_min": "33"} | values))
    assert response.status_code == 422, response.text
    dom = Dom(response.text)
    if field in ("mode", "counters"):  # a group of inputs: the error sits in the group
        assert message in dom.by_id(f"{field}-error").text()
    else:
        assert message in field_error(dom, field)
    assert errors_shown(dom) == {field}
    assert await config(api) == before
    assert await queue_counters(api) == {"1": True, "2": True}


async def test_all_weights_zero_is_refused_with_the_domain_reason(
    api: Api, admin: Console, pharm: dict[str, Any]
) -> None:
    response = await admin.submit(weight_priority="0", weight_wait_time="0", weight_appointment="0")
    assert response.status_code == 422, response.text
    dom = Dom(response.text)
    error = dom.by_id("weights-error")
    assert "at least one weight must be above 0" in error.text()
    assert error in list(dom.by_id("weight_priority").closest("weights").walk())
    assert (await config(api))["weights"]["priority"] == 0.5


async def test_a_counter_with_a_patient_at_it_cannot_be_removed(
    api: Api, admin: Console, pharm: dict[str, Any]
) -> None:
    await join(api)
    await call_next(api, counter="2")
    response = await admin.submit(remove="2", wait_alert_min="20")
    assert response.status_code == 422, response.text
    assert "has a patient at it" in Dom(response.text).by_id("counters-error").text()
    assert await queue_counters(api) == {"1": True, "2": True}
    assert (await config(api))["wait_alert_s"] == 3600  # counters go first: nothing written
    # Closing it instead is fine.
    response = await admin.submit(open=["1"])
    assert response.status_code == 303, response.text
    assert await queue_counters(api) == {"1": True, "2": False}


# -- who may --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["staff", "pharmacist"])
async def test_only_admins_may_see_or_post(api: Api, pharm: dict[str, Any], role: str) -> None:
    admin = await log_in(api, "admin")
    _, dom = await admin.page()
    form = dom.form_fields()
    await admin.client.aclose()

    other = await log_in(api, role)
    try:
        r = await other.client.get(PAGE)
        assert r.status_code == 403, r.text
        attempt = changed(form, csrf_token=other.csrf, capacity="3")
        r = await other.post(attempt)
        assert r.status_code == 403, r.text
    finally:
        await other.client.aclose()
    assert (await config(api))["capacity"] is None


async def test_without_a_session_it_is_off_to_the_login_page(api: Api, pharm: Any) -> None:
    r = await api.client.get(PAGE)
    assert r.status_code == 302
    assert r.headers["location"] == "/console/login?next=%2Fconsole%2Fqueues%2FPHARM%2Fsettings"
    r = await api.client.post(PAGE, content="capacity=3", headers=FORM)
    assert r.status_code == 302
    assert (await config(api))["capacity"] is None


@pytest.mark.parametrize("token", [None, "", "forged"])
async def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    api: Api, admin: Console, pharm: dict[str, Any], token: str | None
) -> None:
    _, dom = await admin.page()
    pairs = [(k, v) for k, v in dom.form_fields() if k != "csrf_token"]
    if token is not None:
        pairs.append(("csrf_token", token))
    r = await admin.post(changed(pairs, capacity="3", open=["1"]))
    assert r.status_code == 403, r.text
    assert (await config(api))["capacity"] is None
    assert await queue_counters(api) == {"1": True, "2": True}


async def test_an_unknown_queue_is_a_404_page(api: Api, admin: Console, pharm: Any) -> None:
    r = await admin.client.get("/console/queues/NOPE/settings")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert "No queue “NOPE”" in r.text
    r = await admin.post([("csrf_token", admin.csrf)], path="/console/queues/NOPE/settings")
    assert r.status_code == 404
    r = await admin.client.get("/console/queues/%3Cb%3E/settings")
    assert r.status_code == 404
    assert "<b>" not in r.text  # escaped


# -- the name patients read -------------------------------------------------------------------


async def test_the_public_name_is_set_and_cleared_on_the_page(
    api: Api, admin: Console, pharm: dict[str, Any]
) -> None:
    _, dom = await admin.page()
    assert dict(dom.form_fields())["public_name"] == ""
    assert dom.by_id("public_name").attrs["placeholder"] == "PHARM"  # what patients read now

    saved = await admin.submit(public_name="  Clinic 4 ")
    assert saved.status_code == 303, saved.text
    queue = (await api.call("GET", f"{API}/queues/PHARM")).json()
    assert (queue["name"], queue["public_name"]) == ("Queue PHARM", "Clinic 4")
    _, dom = await admin.page()
    assert dict(dom.form_fields())["public_name"] == "Clinic 4"

    cleared = await admin.submit(public_name="")
    assert cleared.status_code == 303, cleared.text
    assert (await api.call("GET", f"{API}/queues/PHARM")).json()["public_name"] is None


@pytest.mark.parametrize(
    ("typed", "message"),
    [("A name far too long for one SMS", "at most 20"), ("Clínica 4", "GSM-7")],
)
async def test_a_public_name_an_sms_cannot_carry_is_refused_next_to_its_field(
    api: Api, admin: Console, pharm: dict[str, Any], typed: str, message: str
) -> None:
    response = await admin.submit(public_name=typed, capacity="7")
    assert response.status_code == 422
    dom = Dom(response.text)
    assert message in field_error(dom, "public_name")
    assert dict(dom.form_fields())["public_name"] == typed  # kept as typed
    queue = (await api.call("GET", f"{API}/queues/PHARM")).json()
    assert queue["public_name"] is None and queue["name"] == "Queue PHARM"
    assert (await config(api))["capacity"] is None  # nothing saved
