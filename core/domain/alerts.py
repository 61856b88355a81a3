"""Staff alerts, before it hurts: when to tell the staff chats of a queue that its wait is
too long, or that a counter stands idle while patients wait.

Each alert runs in episodes. A wait episode starts when the longest current wait passes the
queue's `wait_alert_s`, when the forecast says someone joining now would wait longer, or
when the two-hour forecast (`core.domain.horizon`) says that within the next hour one in
ten patients joining would, and ends only once all three are below `END_SHARE` of it (so
a wait hovering at the threshold does not alert again and again); a new episode may then
start. An idle episode starts when an open counter has had nobody at it for `IDLE_ALERT_S`
while patients wait, and ends as soon as somebody is at it again, it closes, or nobody
waits. One message per episode.

Pure: the state of each episode is passed in and the next one handed back; the service
layer stores it under the queue's lock (`core.services.staff_alerts`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.domain.horizon import Horizon
from core.domain.model import AT_COUNTER_STATUSES
from core.domain.queue import Queue

END_SHARE = 0.8
"""An episode ends once every measure is below this share of the threshold."""
IDLE_ALERT_S = 300
"""How long an open counter stands idle while patients wait before staff are told."""
WAIT_SUBJECT = "wait"
IDLE_PREFIX = "idle:"
AHEAD_S = 3600
"""How far ahead of now the two-hour forecast's waits count towards a wait alert: the
hour in which one more counter can still be opened in time."""


@dataclass(frozen=True)
class Episode:
    """Where one alert stands: `since`, when its condition was first seen (None: it does
    not hold); `alerted`, whether this episode's message was sent."""

    since: datetime | None = None
    alerted: bool = False


QUIET = Episode()


@dataclass(frozen=True)
class Step:
    episode: Episode
    """The state to store."""
    alert: bool
    """Send this episode's message now."""


@dataclass(frozen=True)
class WaitFigures:
    """What a wait alert says, in seconds: the figures of one forecast."""

    threshold_s: int
    longest_wait_s: int
    """The longest wait so far of a patient in line."""
    joiner_wait_s: int
    """The forecast wait of someone joining now."""
    with_one_more_s: int
    """The same, were one more counter open."""
    waiting: int
    open_counters: int
    ahead_p90_s: int | None = None
    """The two-hour forecast's largest p90 wait of a patient joining within the next
    `AHEAD_S` (None: no forecast, or the queue takes nobody then)."""
    ahead_p90_plus_one_s: int | None = None
    """The same, were one more counter open: from the same forecast."""

    @property
    def over(self) -> bool:
        return any(m > self.threshold_s for m in self._measures())

    @property
    def calm(self) -> bool:
        return all(m < END_SHARE * self.threshold_s for m in self._measures())

    def _measures(self) -> list[int]:
        ahead = [] if self.ahead_p90_s is None else [self.ahead_p90_s]
        return [self.longest_wait_s, self.joiner_wait_s, *ahead]

    @property
    def reason(self) -> str:
        """`longest`, `forecast` or `both` (the two measures of now, when either is past
        the threshold), else `ahead`: only the hour ahead is."""
        longest = self.longest_wait_s > self.threshold_s
        forecast = self.joiner_wait_s > self.threshold_s
        if not (longest or forecast) and self.over:
            return "ahead"
        return "both" if longest and forecast else "longest" if longest else "forecast"

    @property
    def saved_s(self) -> int:
        """How much sooner someone joining now would be called with one more counter."""
        return max(0, self.joiner_wait_s - self.with_one_more_s)


def wait_figures(queue: Queue, now: datetime, horizon: Horizon | None = None) -> WaitFigures:
    """The figures of a wait alert for a ranked queue at `now`, with the queue's two-hour
    forecast made at `now` when there is one."""
    waiting = queue.waiting()
    longest_s = max(((now - t.joined_at).total_seconds() for t in waiting), default=0.0)
    ahead_s, ahead_plus_one_s = (
        (None, None) if horizon is None else horizon.worst_p90_within(AHEAD_S)
    )
    return WaitFigures(
        threshold_s=queue.config.wait_alert_s,
        longest_wait_s=round(longest_s),
        joiner_wait_s=queue.joiner_eta(now).eta_s,
        with_one_more_s=queue.joiner_eta(now, extra_counters=1).eta_s,
        waiting=len(waiting),
        open_counters=queue.open_counters(),
        ahead_p90_s=ahead_s,
        ahead_p90_plus_one_s=ahead_plus_one_s,
    )


def wait_step(episode: Episode, figures: WaitFigures, now: datetime) -> Step:
    """The next state of the wait alert, and whether to send it now."""
    if not episode.alerted:
        if figures.over:
            return Step(Episode(now, True), alert=True)
        return Step(QUIET, alert=False)
    if figures.calm:
        return Step(QUIET, alert=False)
    return Step(episode, alert=False)


def idle_counters(queue: Queue) -> set[str]:
    """The open counters with nobody at them, when somebody is waiting (none otherwise)."""
    if queue.size() == 0:
        return set()
    busy = {t.counter for t in queue.tickets.values() if t.status in AT_COUNTER_STATUSES}
    return {c.name for c in queue.counters.values() if c.is_open and c.name not in busy}


def idle_step(episode: Episode, idle: bool, now: datetime) -> Step:
    """The next state of one counter's idle alert: sent once it has been idle (with
    patients waiting) for `IDLE_ALERT_S`, as seen by the rounds that looked at it."""
    if not idle:
        return Step(QUIET, alert=False)
    since = episode.since or now
    if not episode.alerted and (now - since).total_seconds() >= IDLE_ALERT_S:
        return Step(Episode(since, True), alert=True)
    return Step(Episode(since, episode.alerted), alert=False)


def idle_subject(counter: str) -> str:
    return IDLE_PREFIX + counter


@dataclass(frozen=True)
class AlertDecision:
    """One round's outcome for a queue: the state of every alert to store (an alert not
    listed is quiet), and the alerts to send, by subject."""

    episodes: dict[str, Episode]
    send: list[str]
    figures: WaitFigures


def decide(
    queue: Queue, episodes: dict[str, Episode], now: datetime, horizon: Horizon | None = None
) -> AlertDecision:
    """Every alert of a ranked queue at `now`, from the stored `episodes` by subject, and
    its two-hour forecast made at `now` when there is one."""
    figures = wait_figures(queue, now, horizon)
    steps = {WAIT_SUBJECT: wait_step(episodes.get(WAIT_SUBJECT, QUIET), figures, now)}
    idle = idle_counters(queue)
    known = {s[len(IDLE_PREFIX) :] for s in episodes if s.startswith(IDLE_PREFIX)}
    for counter in sorted(idle | known):
        subject = idle_subject(counter)
        steps[subject] = idle_step(episodes.get(subject, QUIET), counter in idle, now)
    return AlertDecision(
        {subject: step.episode for subject, step in steps.items()},
        [subject for subject, step in steps.items() if step.alert],
        figures,
    )
