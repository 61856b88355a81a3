"""The quick-reference card for pharmacists and reception (`/console/help`): what to press
on the board, the staff commands of the Telegram bot, and what to do when a called patient
cannot be reached. English and Spanish.

The words live here and only here: the template lays them out. `BOT_COMMANDS` must name
exactly the commands bot/staff.py registers (tests/web/test_help_card.py compares them), so
a new staff command fails that test until it has its line here. Staff texts, not
patients': the message catalogue (core/messages) is for what patients read.
"""

from __future__ import annotations

from dataclasses import dataclass

LANGUAGES = ("en", "es")
DEFAULT_LANGUAGE = "en"


@dataclass(frozen=True)
class Line:
    what: str
    """A command, button or label as staff see it: not translated."""
    en: str
    es: str

    def text(self, lang: str) -> str:
        return self.es if lang == "es" else self.en


BOT_COMMANDS: tuple[Line, ...] = (
    Line(
        "/link CODE",
        "Links this private chat with the bot to your staff account. An admin gives the code"
        " (nextup link-code NAME); it lasts 10 minutes.",
        "Vincula este chat privado con el bot a su cuenta. El código lo da un administrador"
        " (nextup link-code NOMBRE) y dura 10 minutos.",
    ),
    Line(
        "/next [QUEUE] [COUNTER]",
        "Calls the next patient to your counter. With no arguments: the queue and counter you"
        " called from last.",
        "Llama al siguiente paciente a su mostrador. Sin argumentos: la cola y el mostrador de"
        " la última llamada.",
    ),
    Line(
        "/recall",
        "Calls the patient at your counter again (the screen and a new message).",
        "Vuelve a llamar al paciente de su mostrador (la pantalla y un mensaje nuevo).",
    ),
    Line(
        "/noshow",
        "The patient at your counter did not come: marks a no-show.",
        "El paciente de su mostrador no vino: lo marca como no presentado.",
    ),
    Line(
        "/done",
        "Finishes the visit of the patient at your counter.",
        "Termina la atención del paciente de su mostrador.",
    ),
    Line(
        "/queue [QUEUE]",
        "Who is waiting (the first 10) and who is at each counter.",
        "Quién espera (los 10 primeros) y quién está en cada mostrador.",
    ),
    Line(
        "/pause [QUEUE] [MESSAGE]",
        "Stops new patients joining at once (a fire drill, an emergency); the message is what"
        " they are told when they try.",
        "Deja de admitir pacientes al momento (un simulacro, una emergencia); el mensaje es lo"
        " que se les dice si lo intentan.",
    ),
    Line(
        "/resume [QUEUE]",
        "Lets patients join again.",
        "Vuelve a admitir pacientes.",
    ),
    Line(
        "/broadcast QUEUE TEXT",
        "Sends everyone waiting in the queue your message, on their own channel.",
        "Envía su mensaje a todos los que esperan en la cola, por su propio canal.",
    ),
)

BOARD: tuple[Line, ...] = (
    Line(
        "Call next → counter N",
        "Calls the next patient to that counter: the waiting-room screen shows the number and"
        " the patient gets a message (Telegram or SMS).",
        "Llama al siguiente paciente a ese mostrador: la pantalla de la sala muestra el número"
        " y el paciente recibe un mensaje (Telegram o SMS).",
    ),
    Line(
        "✓ on the way",
        "The patient answered the call.",
        "El paciente respondió a la llamada.",
    ),
    Line(
        "Recall",
        "Calls again a patient who has not come yet.",
        "Vuelve a llamar a un paciente que aún no ha llegado.",
    ),
    Line(
        "Start · Complete",
        "The visit begins · ends. Complete alone does both for a patient who came.",
        "La atención empieza · termina. Complete solo hace las dos cosas.",
    ),
    Line(
        "No-show · Return",
        "The patient did not come · back into the waiting line (also from “Missed their"
        " call”, for 12 hours).",
        "El paciente no vino · vuelve a la fila (también desde “Missed their call”, durante"
        " 12 horas).",
    ),
    Line(
        "More → Call to · Transfer · Cancel",
        "For a waiting patient: call out of turn, move to another queue, or take out of the"
        " line (the patient is told).",
        "Para un paciente en espera: llamar fuera de turno, pasar a otra cola o sacar de la"
        " fila (se le avisa).",
    ),
    Line(
        "Add a walk-in",
        "A patient without a phone: give them the printed number. While the queue is closed"
        " or paused, tick “Add anyway” for a patient who is here.",
        "Un paciente sin teléfono: entréguele el número impreso. Con la cola cerrada o en"
        " pausa, marque “Add anyway” para un paciente que ya está aquí.",
    ),
    Line(
        "Pause joins · Resume joins",
        "Stops and restarts new joins at once; patients already in line are still called.",
        "Detiene y reanuda las nuevas entradas al momento; los que ya esperan siguen siendo"
        " llamados.",
    ),
    Line(
        "Message the line",
        "Sends everyone waiting (or also those called) a message on their own channel; by SMS"
        " at most 2 segments.",
        "Envía un mensaje a todos los que esperan (o también a los llamados) por su propio"
        " canal; por SMS, 2 segmentos como máximo.",
    ),
    Line(
        "Longest wait … over the alert threshold",
        "Someone has waited too long: open another counter (Settings, admins) or tell the line.",
        "Alguien espera demasiado: abra otro mostrador (Settings, administradores) o avise a"
        " la fila.",
    ),
)

UNREACHABLE: tuple[Line, ...] = (
    Line(
        "1",
        "NextUp tries by itself: an SMS 1 minute after an unanswered call, a voice call 1"
        " minute later, then “⚠ unreachable” on the board 1½ minutes after that (each"
        " queue's Settings may change these steps).",
        "NextUp lo intenta solo: un SMS 1 minuto después de una llamada sin respuesta, una"
        " llamada de voz 1 minuto más tarde y, 1½ minutos después, “⚠ unreachable” en el"
        " panel (los ajustes de cada cola pueden cambiar estos pasos).",
    ),
    Line(
        "2",
        "Say the number (and name) aloud and look around the waiting room.",
        "Diga el número (y el nombre) en voz alta y mire en la sala de espera.",
    ),
    Line(
        "3",
        "Recall once: it starts the steps again.",
        "Vuelva a llamar una vez (Recall): los pasos empiezan de nuevo.",
    ),
    Line(
        "4",
        "Decide before the no-show grace ends (5 minutes unless the queue says otherwise;"
        " then NextUp marks the no-show itself): Return if they asked to keep their place,"
        " otherwise No-show, and call the next patient.",
        "Decida antes de que acabe el margen de no presentado (5 minutos salvo otro ajuste de"
        " la cola; después NextUp lo marca solo): Return si pidió guardar su sitio; si no,"
        " No-show, y llame al siguiente.",
    ),
    Line(
        "5",
        "If they turn up later the same day: “Missed their call” → Return puts them back in"
        " the line.",
        "Si llega más tarde el mismo día: “Missed their call” → Return lo vuelve a poner en"
        " la fila.",
    ),
)

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "NextUp quick reference",
        "subtitle": "For pharmacy and reception staff. Print it (one A4 sheet) and keep it"
        " at the counter.",
        "board": "The board (Queues)",
        "bot": "From Telegram (staff)",
        "bot_intro": "In a private chat with the hospital's NextUp bot, once linked:",
        "unreachable": "A called patient does not answer",
        "patients": "How patients join",
        "patients_text": "Scan the QR poster, text the queue's code (e.g. PHARM) to the"
        " SMS number, or ask reception (walk-in). Each patient gets a page with their place"
        " and wait; the screen shows the numbers called.",
        "print": "Print",
        "other_language": "Español",
    },
    "es": {
        "title": "Guía rápida de NextUp",
        "subtitle": "Para el personal de farmacia y recepción. Imprímala (una hoja A4) y"
        " téngala en el mostrador.",
        "board": "El panel (Queues)",
        "bot": "Desde Telegram (personal)",
        "bot_intro": "En un chat privado con el bot NextUp del hospital, una vez vinculado:",
        "unreachable": "Un paciente llamado no responde",
        "patients": "Cómo se apuntan los pacientes",
        "patients_text": "Escaneando el cartel QR, enviando por SMS el código de la cola"
        " (p. ej. PHARM) o en recepción (sin teléfono). Cada paciente tiene una página con su"
        " puesto y su espera; la pantalla muestra los números llamados.",
        "print": "Imprimir",
        "other_language": "English",
    },
}


def language(requested: str | None) -> str:
    """`?lang=`: one of LANGUAGES, English for anything else (a card is never an error)."""
    wanted = (requested or "").strip().lower()[:2]
    return wanted if wanted in LANGUAGES else DEFAULT_LANGUAGE


def command_words() -> set[str]:
    """The commands the card lists, without the slash: `{"link", "next", ...}`."""
    return {line.what.split()[0].removeprefix("/") for line in BOT_COMMANDS}
