"""Point 2: path parameters are checked once, where routes are declared: a value that cannot
be a queue code, ticket link or ticket id is the same 404 as an unknown one, on the API, the
pages, the websockets and the static files; percent-encoded values are decoded first."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import websockets
from sanic import Sanic
from sanic.response import text

from tests.conftest import Api
from tests.websocket_refusals import assert_refused
from web import paths

pytestmark = pytest.mark.usefixtures("pharmacy")
LONG_CODE = "Q" * 33
LONG_TOKEN = "t" * 65
LONG_ID = "1" * 37
PAGE = {"Accept": "text/html"}

API_PATHS = [
    ("GET", f"/api/v1/queues/{LONG_CODE}", "queue_not_found"),
    ("PATCH", f"/api/v1/queues/{LONG_CODE}", "queue_not_found"),
    ("GET", f"/api/v1/queues/{LONG_CODE}/status", "queue_not_found"),
    ("POST", f"/api/v1/queues/{LONG_CODE}/call-next", "queue_not_found"),
    ("POST", f"/api/v1/queues/{LONG_CODE}/tickets", "queue_not_found"),
    ("POST", f"/api/v1/queues/{LONG_CODE}/reposition", "queue_not_found"),
    ("GET", f"/api/v1/queues/{LONG_CODE}/analytics", "queue_not_found"),
    ("GET", f"/api/v1/queues/{LONG_CODE}/config", "queue_not_found"),
    ("GET", f"/api/v1/tickets/{LONG_ID}", "ticket_not_found"),
    ("POST", f"/api/v1/tickets/{LONG_ID}/cancel", "ticket_not_found"),
    ("GET", f"/api/v1/public/tickets/{LONG_TOKEN}", "ticket_not_found"),
    ("GET", "/api/v1/queues/PH%C3%A9RM", "queue_not_found"),
    ("GET", "/api/v1/queues/PH%ffRM", "queue_not_found"),
    ("GET", "/api/v1/queues/PH%00RM", "queue_not_found"),
]
PAGES = [
    ("GET", f"/t/{LONG_TOKEN}"),
    ("POST", f"/t/{LONG_TOKEN}/leave"),
    ("POST", f"/t/{LONG_TOKEN}/late"),
    ("GET", f"/display/{LONG_CODE}"),
    ("GET", f"/q/{LONG_CODE}/poster"),
    ("GET", "/display/PH%E2%80%AERM"),
]


@pytest.mark.parametrize(("method", "path", "code"), API_PATHS)
async def test_api_path_parameters_that_cannot_exist_are_404(
    api: Api, method: str, path: str, code: str
) -> None:
    response = await api.call(method, path, json={"counter": "1"})
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize(("method", "path"), PAGES)
async def test_pages_answer_an_impossible_path_with_the_not_found_page(
    api: Api, method: str, path: str
) -> None:
    response = await api.client.request(method, path, headers=PAGE, data={"minutes": "5"})
    assert response.status_code == 404, response.text
    assert "<html" in response.text.lower()


async def test_display_state_of_an_impossible_code_is_a_json_404(api: Api) -> None:
    response = await api.client.get(f"/display/{LONG_CODE}/state")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "queue_not_found"


async def test_percent_encoded_codes_are_decoded_before_the_lookup(api: Api) -> None:
    found = await api.call("GET", "/api/v1/queues/PH%41RM")
    assert found.status_code == 200, found.text
    assert found.json()["code"] == "PHARM"
    assert (await api.client.get("/display/ph%61rm", headers=PAGE)).status_code == 200


async def test_ticket_links_are_decoded_too(api: Api, pharmacy: dict[str, Any]) -> None:
    token = pharmacy["token"]
    encoded = "".join(f"%{ord(c):02X}" for c in token)
    response = await api.client.get(f"/api/v1/public/tickets/{encoded}")
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("path", "code"),
    [
        (f"/ws/queues/{LONG_CODE}", "queue_not_found"),
        ("/ws/queues/PH%ffRM", "queue_not_found"),
        (f"/ws/tickets/{LONG_TOKEN}", "ticket_not_found"),
    ],
)
async def test_websockets_on_impossible_paths_close_with_4404_and_say_why(
    api: Api, path: str, code: str
) -> None:
    url = api.base_url.replace("http", "ws") + path
    async with websockets.connect(url) as ws:
        await assert_refused(ws, code)


@pytest.mark.parametrize("path", ["/static/", "/static/app.css%00.js", "/static/%ff", "/static/.."])
async def test_static_paths_that_name_no_file_are_404(api: Api, path: str) -> None:
    response = await api.client.get(path)
    assert response.status_code == 404, response.text
    assert (await api.client.get("/static/app.css")).status_code == 200


def test_a_route_whose_parameter_has_no_rule_is_refused_when_the_app_is_built() -> None:
    app: Sanic[Any, Any] = Sanic("unruled")

    @app.get("/things/<mystery>")
    async def thing(request: Any, mystery: str) -> Any:
        return text(mystery)

    with pytest.raises(paths.UnruledParameter, match="mystery"):
        paths.check_routes(app)


def test_a_websocket_route_declared_around_the_check_is_refused() -> None:
    app: Sanic[Any, Any] = Sanic("unchecked_ws")

    @app.websocket("/ws/things/<code>")
    async def feed(request: Any, ws: Any, code: str) -> None:
        await ws.send(code)

    with pytest.raises(paths.UnruledParameter, match=r"web\.paths\.websocket"):
        paths.check_routes(app)


async def test_every_parameter_of_every_route_has_a_rule(api: Api) -> None:
    paths.check_routes(api.app)  # the app in use passed, so does every route added later
    assert {"code", "token", "ticket_id"} <= set(paths.RULES)
    async with httpx.AsyncClient(base_url=api.base_url) as client:
        assert (await client.get("/healthz")).status_code == 200
