"""The twilio client over aiohttp, made on first use, shared by the SMS and voice senders."""

from __future__ import annotations

from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

SEND_TIMEOUT_S = 15.0
"""How long one request to Twilio may take before it counts as a temporary failure."""


class LazyTwilioClient:
    def __init__(self, account_sid: str, auth_token: str, api_base: str | None = None) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.api_base = api_base
        self._http: AsyncTwilioHttpClient | None = None
        self._client: Client | None = None

    def get(self) -> Client:
        # aiohttp wants its session made inside the running loop, so it is made on first use.
        if self._client is None:
            self._http = AsyncTwilioHttpClient()
            self._client = Client(self.account_sid, self.auth_token, http_client=self._http)
            if self.api_base:
                self._client.api.base_url = self.api_base.rstrip("/")
        return self._client

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = self._client = None
