"""Logs mask phone numbers, tokens and credentials in every line `nextup serve` writes,
whoever logs it: NextUp, Sanic (its access line carries the URL in `extra` fields),
aiogram, aiohttp and twilio, through the handlers the real start-up configures (ours,
Sanic's, and logging's last resort for the libraries that have none)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.processes import clean_env, free_port, stop

PHONE = "+34600111222"
PATIENT_TOKEN = "Zq3xSecretTokenValue0123"
API_TOKEN = "nxt_Pq8vSECRETapiTOKENvalue_0123456789abcdef"
BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
TWILIO_ACCOUNT = "AC0123456789abcdef0123456789abcdef"

# `nextup serve` as the console script runs it (`nextup.cli.main`), with a thread that, once
# the server answers, logs what the libraries log.
SERVE_AND_LOG = f"""
import logging, socket, sys, threading, time
from nextup.cli import main

PORT = int(sys.argv[1])

def log_like_the_libraries():
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", PORT), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    url = "https://api.telegram.org/bot{BOT_TOKEN}/sendMessage"
    logging.getLogger("core.delivery.dispatcher").warning(
        "send to %s failed: %s", "{PHONE}", "https://q.example.org/t/{PATIENT_TOKEN}")
    logging.getLogger("web.api").info("token %s used", "{API_TOKEN}")
    logging.getLogger("aiogram.dispatcher").error("Failed to fetch updates - %s", url)
    logging.getLogger("aiohttp.client").warning("POST %s -> 502", url)
    logging.getLogger("twilio.http_client").warning(
        "POST Request: https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT}/Messages.json"
        " body To=%2B34600111222&Body=hello")
    logging.getLogger("sanic.root").info("chat %d joined PHARM", 987654321)
    logging.getLogger("sanic.access").info("", extra={{
        "host": "127.0.0.1:5000", "request": "GET http://127.0.0.1/t/{PATIENT_TOKEN}",
        "status": 200, "byte": 512, "duration": "1ms"}})
    try:
        raise RuntimeError("twilio said 400 for {PHONE}")
    except RuntimeError:
        logging.getLogger("sanic.error").exception("Exception occurred while handling uri")
    print("LOGGED", file=sys.stderr, flush=True)

threading.Thread(target=log_like_the_libraries, daemon=True).start()
sys.exit(main(["serve", "--port", str(PORT)]))
"""


def test_serve_masks_every_log_line(tmp_path: Path) -> None:
    output = tmp_path / "serve.log"
    with output.open("wb") as sink:
        server = subprocess.Popen(
            [sys.executable, "-c", SERVE_AND_LOG, str(free_port())],
            cwd=tmp_path,
            env=clean_env(),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while b"LOGGED" not in output.read_bytes() and time.monotonic() < deadline:
            assert server.poll() is None, output.read_text(encoding="utf-8")
            time.sleep(0.2)
    finally:
        stop(server)
    out = output.read_text(encoding="utf-8")
    assert "LOGGED" in out, out
    for secret in (
        PHONE,
        "600111222",
        "987654321",
        PATIENT_TOKEN,
        API_TOKEN,
        "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
        TWILIO_ACCOUNT,
    ):
        assert secret not in out, (secret, out)
    masked_phone = "+3" + "•" * 8 + "22"
    # Each line is there, masked, not dropped: ours, the libraries', Sanic's. (Sanic's access
    # line keeps its URL in `extra`, which the one log format does not print: the token must
    # not be anywhere, checked above.)
    for line in (
        f"send to {masked_phone} failed: https://q.example.org/t/Zq3x…",
        "token nxt_… used",
        "Failed to fetch updates - https://api.telegram.org/bot123456789:…/sendMessage",
        "POST https://api.telegram.org/bot123456789:…/sendMessage -> 502",
        "/Accounts/AC…cdef/Messages.json body To=%2B3" + "•" * 8 + "22&Body=hello",
        "chat 9" + "•" * 6 + "21 joined PHARM",
        f"RuntimeError: twilio said 400 for {masked_phone}",
    ):
        assert line in out, (line, out)
