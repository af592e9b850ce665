"""What the header of every engineer page shows about the running timer: its title,
since when (on the viewer's clock), for how long, and whether it has run for more than
12 hours (flagged: the stop form then asks when the work really stopped)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from englog.domain.timer import RunningTimer
from englog.server.state import ServerState
from englog.web.calendar import Calendar, calendar_of


@dataclass(frozen=True, slots=True)
class RunningView:
    id: str
    title: str
    type: str
    project: str | None
    since: str  # `09:10`, or `Mon 09:10` when it started on another day
    started: datetime  # in the viewer's zone
    elapsed_minutes: float
    long_running: bool


@dataclass(frozen=True, slots=True)
class TimerBar:
    """The header's timer: `running` None when no timer runs (the start form shows)."""

    running: RunningView | None
    zone_name: str


def running_view(timer: RunningTimer, calendar: Calendar, now: datetime) -> RunningView:
    started = timer.start_time.astimezone(calendar.tz)
    here = now.astimezone(calendar.tz)
    since = f"{started:%H:%M}" if started.date() == here.date() else f"{started:%a %H:%M}"
    return RunningView(
        id=timer.id,
        title=timer.title,
        type=str(timer.type),
        project=timer.project,
        since=since,
        started=started,
        elapsed_minutes=timer.elapsed(now).total_seconds() / 60,
        long_running=timer.is_long(now),
    )


async def timer_bar(state: ServerState, user_id: str) -> TimerBar:
    calendar = await calendar_of(state, user_id)
    timer = await state.store.get_timer(user_id)
    now = datetime.fromtimestamp(state.clock(), UTC)
    running = None if timer is None else running_view(timer, calendar, now)
    return TimerBar(running=running, zone_name=calendar.zone_name)
