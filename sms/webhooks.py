"""Twilio's webhooks: a patient's text (`/hooks/twilio/sms`, answered with TwiML), what
became of each message we sent (`/hooks/twilio/status`) and of each voice call of the call
ladder (`/hooks/twilio/voice-status`).

Both are signed by Twilio (`X-Twilio-Signature`) over the URL it called, which behind a
proxy is not the one this process sees; so the signature is checked against
`NEXTUP_PUBLIC_URL` + path + query. A request that fails the check changes nothing.
"""

from __future__ import annotations

import logging

from sanic import Blueprint, Request, response
from sanic.request import RequestParameters
from sanic.response import HTTPResponse
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from core.storage import outbox
from sms.conversation import SmsConversation
from sms.sender import status_callback_url

log = logging.getLogger(__name__)
TWIML = "application/xml"
DELIVERY_ERRORS = {
    "30003": "the phone is switched off or out of reach",
    "30004": "the recipient blocked the message",
    "30005": "the number does not exist",
    "30006": "the number is a landline or cannot receive SMS",
    "30007": "the carrier filtered the message",
    "30008": "the carrier reported an unknown error",
}
"""Twilio's delivery error codes staff are most likely to see, in words they can act on."""


def twiml(text: str | None = None, action: str | None = None) -> HTTPResponse:
    reply = MessagingResponse()
    if text is not None:
        reply.message(text, action=action, method="POST" if action else None)
    return response.text(str(reply), content_type=TWIML)


def form_of(request: Request) -> RequestParameters:
    """The form fields Twilio posted, empty ones included (Twilio signs `Body=` too); none
    when the body is not a form."""
    return request.get_form(keep_blank_values=True) or RequestParameters()


def sms_blueprint(conversation: SmsConversation, auth_token: str, public_url: str) -> Blueprint:
    bp = Blueprint("twilio_hooks", url_prefix="/hooks/twilio")
    validator = RequestValidator(auth_token)
    base_url = public_url.rstrip("/")

    def signed_form(request: Request) -> RequestParameters | None:
        """The posted form when Twilio signed it; None otherwise."""
        signature = request.headers.get("X-Twilio-Signature")
        if not signature:
            return None
        form = form_of(request)
        query = f"?{request.query_string}" if request.query_string else ""
        url = f"{base_url}{request.path}{query}"
        return form if validator.validate(url, form, signature) else None

    def refused(request: Request) -> HTTPResponse:
        log.warning("Twilio webhook %s refused: missing or wrong signature", request.path)
        return response.text("invalid or missing X-Twilio-Signature", status=403)

    @bp.post("/sms")
    async def inbound(request: Request) -> HTTPResponse:
        form = signed_form(request)
        if form is None:
            return refused(request)
        sender = form.get("From")
        if not sender:
            return response.text("no From number", status=400)
        reply = await conversation.handle(sender, form.get("Body") or "")
        action = status_callback_url(base_url, reply.record_id) if reply.record_id else None
        return twiml(reply.text, action)

    @bp.post("/status")
    async def status(request: Request) -> HTTPResponse:
        form = signed_form(request)
        if form is None:
            return refused(request)
        outbox_id, sid = request.args.get("n"), form.get("MessageSid")
        state = (form.get("MessageStatus") or "").lower()
        if not outbox_id or not sid or not state:
            return response.text("expected n, MessageSid and MessageStatus", status=400)
        code = form.get("ErrorCode") or None
        if overlong := too_long(n=outbox_id, MessageSid=sid, MessageStatus=state, ErrorCode=code):
            return response.text(f"{overlong} is longer than any Twilio sends", status=400)
        error = delivery_error(state, code) if code else None
        if not await outbox.record_provider_status(outbox_id, sid, state, code, error):
            log.debug("status %s for %s ignored: not newer than what we know", state, sid)
        return twiml()

    @bp.post("/voice-status")
    async def voice_status(request: Request) -> HTTPResponse:
        """What became of a call ladder's voice call: ringing, answered, busy ... The ladder
        reads it from the record (`core.domain.ladder.outcome_of`)."""
        form = signed_form(request)
        if form is None:
            return refused(request)
        outbox_id, sid = request.args.get("n"), form.get("CallSid")
        state = (form.get("CallStatus") or "").lower()
        if not outbox_id or not sid or not state:
            return response.text("expected n, CallSid and CallStatus", status=400)
        if overlong := too_long(n=outbox_id, MessageSid=sid, MessageStatus=state):
            return response.text(f"{overlong} is longer than any Twilio sends", status=400)
        error = CALL_ERRORS.get(state)
        if not await outbox.record_provider_status(outbox_id, sid, state, None, error):
            log.debug("call status %s for %s ignored: not newer than what we know", state, sid)
        return response.empty()

    return bp


CALL_ERRORS = {
    "busy": "voice call: the line was busy",
    "no-answer": "voice call: nobody answered",
    "failed": "voice call: could not be placed (check the number)",
    "canceled": "voice call: canceled before it was answered",
}
"""A voice call that did not reach the patient, in words staff can act on."""


STATUS_FIELD_MAX = {"n": 36, "MessageSid": 64, "MessageStatus": 16, "ErrorCode": 16}
"""The longest value of each field of a status callback that we can record (the columns of
the outbox row); a signature proves who sent it, not that it fits."""


def too_long(**fields: str | None) -> str | None:
    """The name of the first field longer than STATUS_FIELD_MAX allows, if any."""
    return next((k for k, v in fields.items() if v and len(v) > STATUS_FIELD_MAX[k]), None)


def delivery_error(state: str, code: str) -> str:
    reason = DELIVERY_ERRORS.get(code, "see https://www.twilio.com/docs/errors/" + code)
    return f"SMS {state} (Twilio error {code}): {reason}"
