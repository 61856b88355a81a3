"""Rendering of patient messages from the Jinja2 templates under `templates/<language>/`.

    templates/<lang>/telegram/<kind>.txt   a notification as sent on Telegram
    templates/<lang>/sms/<kind>.txt        the same notification as an SMS (GSM-7, one segment)
    templates/<lang>/voice/<kind>.txt      what the call ladder's voice call says (called,
                                           recalled; spoken twice)
    templates/<lang>/bot/<name>.txt        bot replies (`render_text`)
    templates/<lang>/sms_reply/<name>.txt  replies to a patient's text message (`render_sms_reply`)
    templates/<lang>/labels.json           button labels and small words (`label`)
    templates/<lang>/kinds.json            labels of common kinds of visit ({"pickup":
                                           "Recogida"}; `kind_label`, `core.messages.kinds`)
    templates/<lang>/plurals.json          words that follow a count, one form per plural
                                           category: {"segment": {"one": "{n} segment",
                                           "other": "{n} segments"}} (`plural`)
    templates/<lang>/keywords.json         the words patients text, per command
                                           ({"status": ["ESTADO"]}; `core.messages.keywords`)
    templates/<lang>/_macros.txt           phrases the templates of that language share

A template missing in the patient's language falls back to English; a kind or name that
exists in no language raises `UnknownMessage`. Texts are plain (no Markdown or HTML): send
them without a parse mode.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, TemplateNotFound

from core.domain.notify import MessageKind

SUPPORTED_LANGUAGES: tuple[str, ...] = ("en", "es")
FALLBACK_LANGUAGE = "en"
EN_DASH = "\u2013"
LANGUAGE_NAMES: dict[str, str] = {"en": "English", "es": "Español"}

NOTIFICATION_KINDS: tuple[str, ...] = tuple(MessageKind)
ANSWERABLE_KINDS = (MessageKind.CALLED, MessageKind.RECALLED)
"""Calls carry an "I'm on my way" button (a reminder can be answered too)."""
RATINGS: tuple[int, ...] = (1, 2, 3, 4, 5)
MAX_CALLBACK_DATA_BYTES = 64
"""Telegram's limit on `callback_data`."""
OPTIONAL_PARAMS: Mapping[str, Any] = {
    "ticket_url": None,
    "overflowed_from": None,
    "grace_min": None,
}
"""Params a template may read but a caller may leave out; every other one is required."""
PATIENT_PARAMS = frozenset(
    {
        # the ticket and the line
        "number",
        "numbers",
        "position",
        "counter",
        "eta_low_min",
        "eta_high_min",
        "direction",
        "travel_min",
        "grace_min",
        "late_left",
        "minutes",
        # the kind of visit: a queue's keys (`pickup`), which say what the visit is for
        # no more than its queue's name does
        "kind",
        "kinds",
        "score",
        "tickets",
        # queues: codes (on the poster, texted as keywords) and the public name, never the
        # real one (`shown_queue_name`)
        "queue",
        "queue_name",
        "code",
        "codes",
        "overflowed_from",
        "from_queue",
        # the patient's own words and choices, and their own page
        "command",
        "word",
        "unknown",
        "language_name",
        "languages",
        "ticket_url",
        "labels",
        "visit",
        "phone_masked",
        # opening hours: when the queue opens or closes, in its own time zone, and what
        # staff said when they paused it (a notice to everyone, about no one)
        "opens_day",
        "opens_time",
        "closes_time",
        "paused",
        "pause_message",
        # staff's own words to the line (a broadcast), checked when sent
        "text",
    }
)
"""Everything a message to a patient may say: nothing about who they are (no name, phone
number, chat id or raw token), so a message read on a lock screen, a shared phone or a
family tablet tells only where someone stands in a line. Patient templates get these params
alone, whatever the caller passed (tests/messages/test_placeholders.py checks every
template against them)."""
TICKET_FIELDS = frozenset(
    {"number", "queue_name", "status", "position", "counter", "eta_low_min", "eta_high_min"}
)
"""What an item of `tickets` (the status reply) may say."""
STAFF_MESSAGES = frozenset({"staff_alert_wait", "staff_alert_idle", "daily_summary"})
"""Messages the outbox sends to linked staff chats (no ticket): alerts and the daily summary,
worded from `templates/<language>/bot/<kind>.txt` when sent (`render_staff_message`)."""
STAFF_TEXTS = STAFF_MESSAGES | frozenset(
    {
        "broadcast_sent",
        "broadcast_too_long",
        "broadcast_usage",
        "counter_busy",
        "done_done",
        "link_bad",
        "link_private_only",
        "link_usage",
        "linked",
        "next_called",
        "next_usage",
        "no_current",
        "noshow_done",
        "not_linked",
        "queue_empty",
        "queue_status",
        "recalled",
        "staff_error",
        "unknown_counter",
        "paused_done",
        "resumed_done",
    }
)
"""Bot replies to linked staff chats (private, never a group: `/link`): they may name the
patient called to the counter and the queue's real name."""

TEMPLATES = Path(__file__).parent / "templates"
_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")
_KIND_SEPARATORS = re.compile(r"[\s_-]+")


PLURAL_RULES: dict[str, Callable[[int], str]] = {
    "en": lambda n: "one" if n == 1 else "other",
    "es": lambda n: "one" if n == 1 else "other",
}
"""The CLDR plural category of a count, per language (English and Spanish: one, other)."""


class UnknownMessage(KeyError):
    """No template (or label) of that name in any language."""


@dataclass(frozen=True)
class Button:
    label: str
    data: str

    def __post_init__(self) -> None:
        if len(self.data.encode()) > MAX_CALLBACK_DATA_BYTES:
            raise ValueError(f"callback data over {MAX_CALLBACK_DATA_BYTES} bytes: {self.data!r}")


@dataclass(frozen=True)
class Rendered:
    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    """Rows of buttons (Telegram inline keyboard); always empty on SMS."""


def pick_language(requested: str | None, default: str = "en") -> str:
    """A supported language for a tag such as `es`, `es-MX`, `ES_es` or `es-MX,es;q=0.9`.

    An unknown or empty tag gives `default`, and an unsupported default gives English.
    """
    for tag in (requested, default):
        base = re.split(r"[-_,;\s]", (tag or "").strip(), maxsplit=1)[0].lower()
        if base in SUPPORTED_LANGUAGES:
            return base
    return FALLBACK_LANGUAGE


def _check_name(what: str, name: str) -> None:
    if not _NAME.match(name):
        raise UnknownMessage(f"{what} {name!r}")


class Catalogue:
    """The templates and labels under one directory (the package's own by default)."""

    def __init__(self, root: Path = TEMPLATES) -> None:
        self.root = root
        self.env = Environment(
            loader=FileSystemLoader(root),
            undefined=StrictUndefined,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        self._labels: dict[str, Mapping[str, str]] = {}
        self._plurals: dict[str, Mapping[str, Mapping[str, str]]] = {}
        self._kinds: dict[str, Mapping[str, str]] = {}
        # What every template (and its imported macros) may use, whatever its context.
        self.env.globals.update(label=self.label, plural=self.plural, kind_label=self.kind_label)

    def _template(self, path: str, language: str) -> tuple[Template, str]:
        """The template at `<language>/<path>`, else the English one, with its language."""
        first = pick_language(language)
        for lang in dict.fromkeys((first, FALLBACK_LANGUAGE)):
            name = f"{lang}/{path}"
            try:
                return self.env.get_template(name), lang
            except TemplateNotFound as exc:
                if exc.name != name:  # a missing import inside the template is a bug
                    raise
        raise UnknownMessage(path)

    def labels(self, language: str) -> dict[str, str]:
        """English labels overlaid with those of `language`."""
        merged = dict(self._labels_file(FALLBACK_LANGUAGE))
        merged.update(self._labels_file(pick_language(language)))
        return merged

    def _labels_file(self, lang: str) -> Mapping[str, str]:
        if lang not in self._labels:
            path = self.root / lang / "labels.json"
            data: Any = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
            if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
                raise ValueError(f"{path}: expected an object of strings")
            self._labels[lang] = data
        return self._labels[lang]

    def label(self, name: str, language: str) -> str:
        try:
            return self.labels(language)[name]
        except KeyError:
            raise UnknownMessage(f"label {name!r}") from None

    def kind_labels(self, lang: str) -> Mapping[str, str]:
        """The catalogue's labels of common kinds of visit in `lang` alone (`kinds.json`)."""
        if lang not in self._kinds:
            path = self.root / lang / "kinds.json"
            data: Any = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
            if not isinstance(data, dict) or not all(
                isinstance(v, str) and v.strip() for v in data.values()
            ):
                raise ValueError(f"{path}: expected an object of labels")
            self._kinds[lang] = data
        return self._kinds[lang]

    def kind_label(self, kind: str, language: str) -> str:
        """A queue's kind of visit (a key of its `service_times_s`) as a patient reading
        `language` sees it: the catalogue's label (English filling gaps), else one made from
        the key (`flu_shot`: "Flu shot"). Queues name their kinds freely, so there is no
        unknown kind here."""
        for lang in dict.fromkeys((pick_language(language), FALLBACK_LANGUAGE)):
            found = self.kind_labels(lang).get(kind)
            if found:
                return found
        return label_from_key(kind)

    def plural(self, name: str, count: int, language: str) -> str:
        """`count` with the word that follows it ("1 segment", "2 segments"), in the form
        the language's plural rule asks for; the form may leave the number out ("{n}")."""
        lang = pick_language(language)
        for candidate in dict.fromkeys((lang, FALLBACK_LANGUAGE)):
            forms = self._plurals_file(candidate).get(name)
            if forms is not None:
                form = forms.get(PLURAL_RULES[candidate](count)) or forms["other"]
                return form.replace("{n}", str(count))
        raise UnknownMessage(f"plural {name!r}")

    def _plurals_file(self, lang: str) -> Mapping[str, Mapping[str, str]]:
        if lang not in self._plurals:
            path = self.root / lang / "plurals.json"
            data: Any = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
            if not isinstance(data, dict) or not all(
                isinstance(forms, dict)
                and "other" in forms
                and all(isinstance(f, str) for f in forms.values())
                for forms in data.values()
            ):
                raise ValueError(f"{path}: expected {{word: {{category: form}}}} with 'other'")
            self._plurals[lang] = data
        return self._plurals[lang]

    def wait_words(self, low_s: float, high_s: float, language: str, dash: str = EN_DASH) -> str:
        """A wait range as a patient reads it: "less than a minute", "5 min", "5-10 min"
        with `dash` between (the same rule as the `wait` macro of the templates)."""
        minutes = wait_minutes(low_s, high_s)
        low, high = minutes["eta_low_min"], minutes["eta_high_min"]
        if under_a_minute(low, high):
            return self.label("under_a_minute", language)
        return f"{low}{dash}{high} min" if low != high else f"{high} min"

    def _render(
        self, path: str, language: str, params: Mapping[str, Any], to_patient: bool = True
    ) -> tuple[str, str]:
        template, lang = self._template(path, language)
        context = {**OPTIONAL_PARAMS, **params, "labels": self.labels(lang)}
        if to_patient:
            context = patient_context(context)
        return template.render(context).strip(), lang

    def render_notification(
        self, kind: str, channel: str, language: str, params: Mapping[str, Any]
    ) -> Rendered:
        _check_name("notification", kind)
        channel = channel.lower() if channel.lower() in ("sms", "voice") else "telegram"
        text, lang = self._render(f"{channel}/{kind}.txt", language, params)
        if channel != "telegram":  # no buttons on a text message or a voice call
            return Rendered(text)
        return Rendered(text, self._buttons(kind, lang, params))

    def _buttons(
        self, kind: str, lang: str, params: Mapping[str, Any]
    ) -> tuple[tuple[Button, ...], ...]:
        if kind not in (*ANSWERABLE_KINDS, MessageKind.DONE):
            return ()
        ticket = params.get("ticket_id")
        if not ticket:
            raise ValueError(f"the {kind!r} message needs a ticket_id for its buttons")
        if kind in ANSWERABLE_KINDS:
            return ((Button(self.label("on_my_way", lang), f"ack:{ticket}"),),)
        return (tuple(Button(str(n), f"rate:{ticket}:{n}") for n in RATINGS),)

    def render_text(self, name: str, language: str, /, **params: Any) -> str:
        _check_name("text", name)
        return self._render(f"bot/{name}.txt", language, params, name not in STAFF_TEXTS)[0]

    def render_staff_message(self, kind: str, language: str, params: Mapping[str, Any]) -> str:
        if kind not in STAFF_MESSAGES:
            raise UnknownMessage(f"staff message {kind!r}")
        return self._render(f"bot/{kind}.txt", language, params, to_patient=False)[0]

    def render_sms_reply(self, name: str, language: str, /, **params: Any) -> str:
        _check_name("SMS reply", name)
        return self._render(f"sms_reply/{name}.txt", language, params)[0]


DEFAULT_CATALOGUE = Catalogue()


def patient_context(params: Mapping[str, Any]) -> dict[str, Any]:
    """`params` cut to what a patient's message may say (`PATIENT_PARAMS`): a template that
    reached for anything else (a name, a phone) fails loudly instead of sending it."""
    context = {k: v for k, v in params.items() if k in PATIENT_PARAMS}
    if "tickets" in context:
        context["tickets"] = [
            {k: v for k, v in t.items() if k in TICKET_FIELDS} for t in context["tickets"]
        ]
    return context


def label_from_key(kind: str) -> str:
    """A readable label made from a kind of visit's key: `flu_shot`, "Flu shot"."""
    words = _KIND_SEPARATORS.sub(" ", kind).strip()
    return words[:1].upper() + words[1:]


def under_a_minute(low_min: int | None, high_min: int | None) -> bool:
    """Whether a range in whole minutes (rounded outwards) all lies within the next minute:
    said in words, never "about 0 min"."""
    return high_min is not None and high_min <= 1 and not low_min


def wait_minutes(low_s: float, high_s: float) -> dict[str, int]:
    """A wait range in whole minutes, rounded outwards: `eta_low_min` and `eta_high_min`."""
    low_min = math.floor(low_s / 60)
    return {"eta_low_min": low_min, "eta_high_min": max(low_min, math.ceil(high_s / 60))}


def template_params(payload: dict[str, Any], base_url: str) -> dict[str, Any]:
    """Minutes instead of seconds (a range rounded outwards), and the ticket page link."""
    params = dict(payload)
    low_s, high_s = payload.get("eta_low_s"), payload.get("eta_high_s")
    if low_s is not None and high_s is not None:
        params |= wait_minutes(low_s, high_s)
    if payload.get("travel_s") is not None:
        params["travel_min"] = math.ceil(payload["travel_s"] / 60)
    previous_s, eta_s = payload.get("previous_eta_s"), payload.get("eta_s")
    if previous_s is not None and eta_s is not None:
        params["direction"] = "sooner" if eta_s < previous_s else "later"
    token = payload.get("token")
    params["ticket_url"] = f"{base_url}/t/{token}" if token else None
    return params


def render_notification(
    kind: str, channel: str, language: str, params: Mapping[str, Any]
) -> Rendered:
    """A notification `kind` for `channel` ("sms"; anything else is Telegram) in `language`."""
    return DEFAULT_CATALOGUE.render_notification(kind, channel, language, params)


def render_text(name: str, language: str, /, **params: Any) -> str:
    """A bot reply from `templates/<language>/bot/<name>.txt`, falling back to English.

    `name` and `language` are positional-only, so templates may use params of those names.
    """
    return DEFAULT_CATALOGUE.render_text(name, language, **params)


def render_staff_message(kind: str, language: str, params: Mapping[str, Any]) -> str:
    """A message to a staff chat from the outbox (`STAFF_MESSAGES`), in `language`."""
    return DEFAULT_CATALOGUE.render_staff_message(kind, language, params)


def render_sms_reply(name: str, language: str, /, **params: Any) -> str:
    """A reply to a patient's text from `templates/<language>/sms_reply/<name>.txt`: GSM-7
    and one segment, like the SMS notifications."""
    return DEFAULT_CATALOGUE.render_sms_reply(name, language, **params)


def kind_label(kind: str, language: str) -> str:
    """A kind of visit as a patient reading `language` sees it (`Catalogue.kind_label`)."""
    return DEFAULT_CATALOGUE.kind_label(kind, language)


def plural(name: str, count: int, language: str) -> str:
    """`count` and its word from `plurals.json`: "1 segment", "2 segments"."""
    return DEFAULT_CATALOGUE.plural(name, count, language)


def wait_words(low_s: float, high_s: float, language: str, dash: str = EN_DASH) -> str:
    """A wait range in seconds, in words for `language` (see `Catalogue.wait_words`)."""
    return DEFAULT_CATALOGUE.wait_words(low_s, high_s, language, dash)


def label(name: str, language: str) -> str:
    """A button label or small word from `labels.json`, falling back to English."""
    return DEFAULT_CATALOGUE.label(name, language)
