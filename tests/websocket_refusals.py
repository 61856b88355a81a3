"""How a feed refuses a websocket (docs/live.md): an error frame naming why, then a close."""

from __future__ import annotations

import json
from typing import Any

import pytest
import websockets


async def assert_refused(ws: Any, code: str, close_code: int = 4404) -> None:
    """The next frame is the error `code`, then the feed closes with `close_code`."""
    message = json.loads(await ws.recv())
    assert message == {
        "type": "error",
        "data": {"code": code, "message": message["data"]["message"]},
    }
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == close_code
