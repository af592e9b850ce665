"""`/v1/timer`: the running timer, one per user, kept by the server so it outlives the
terminal or browser that started it and any server restart (it is a row in the store).

Starting a timer while one runs stops that one first (logged as an entry, and the answer
says so). A timer that ran for more than 12 hours is flagged: it is never stopped with
"now" as its end unless the caller says so (`keep_long`), since a forgotten timer would
otherwise count a night of work."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field

from englog.domain.durations import format_minutes
from englog.domain.entries import Entry, EntryFields
from englog.domain.timer import LONG_RUN, RunningTimer, TimerFields, too_long_for_an_entry
from englog.domain.tokens import new_id
from englog.server.auth import CurrentUser, State
from englog.server.entry_checks import FUTURE_SLACK
from englog.server.http.entries import checked_json
from englog.server.http.errors import ApiError, invalid
from englog.server.http.iso_times import IsoDateTime
from englog.server.http.local_days import zone_of
from englog.server.state import ServerState

router = APIRouter(prefix="/v1/timer", tags=["timer"])

# A timer may be started this far back ("I started at 9, forgot to press start").
MAX_BACKDATE = timedelta(hours=24)
SWAP_TRIES = 3


class TimerIn(TimerFields):
    """An entry's fields without its end; `start_time` defaults to now."""

    start_time: IsoDateTime | None = Field(
        default=None, description="When it started (default: now); at most 24 h ago"
    )


class TimerStop(BaseModel):
    model_config = ConfigDict(extra="forbid")

    end_time: IsoDateTime | None = Field(
        default=None, description="When the work stopped (default: now)"
    )
    # strict: `1` or "yes" is not a JSON boolean (pydantic's lax mode would take them).
    keep_long: bool = Field(
        default=False,
        strict=True,
        description="Log all of a timer that ran for more than 12 hours",
    )
    discard: bool = Field(default=False, strict=True, description="Drop the timer; log nothing")


def timer_json(timer: RunningTimer, now: datetime) -> dict[str, Any]:
    """The timer with how long it has run and whether it is flagged as too long."""
    minutes = timer.elapsed(now).total_seconds() / 60
    long_running = timer.is_long(now)
    warnings = (
        [
            f"running for {format_minutes(minutes)}, more than {_hours(LONG_RUN)} hours:"
            " stop it with the time you really stopped (end_time), or keep_long to log it all"
        ]
        if long_running
        else []
    )
    return timer.model_dump(mode="json") | {
        "elapsed_minutes": round(minutes, 1),
        "long_running": long_running,
        "warnings": warnings,
    }


def _hours(span: timedelta) -> int:
    return int(span.total_seconds() // 3600)


def _too_long(timer: RunningTimer, now: datetime) -> ApiError:
    minutes = timer.elapsed(now).total_seconds() / 60
    return ApiError(
        409,
        "timer_too_long",
        f"the timer has run for {format_minutes(minutes)} (since {timer.start_time.isoformat()}),"
        " more than 12 hours: give end_time (when you really stopped), keep_long: true to"
        " log all of it, or discard: true",
        {"timer": timer_json(timer, now)},
    )


def _instant(value: datetime) -> datetime:
    """A date-time without an offset is UTC, as everywhere in the API."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _entry_of(timer: RunningTimer, end: datetime, field: str, tz: tzinfo) -> EntryFields:
    """The entry `timer` becomes when it ends at `end`, both times in the user's zone
    (`end` converted only once known to be within a day of the start)."""
    end = _instant(end)
    if end <= timer.start_time:
        raise invalid(field, f"must be after the timer's start ({timer.start_time.isoformat()})")
    if too_long_for_an_entry(timer, end):
        raise invalid(field, "an entry lasts at most 24 hours: give the time you really stopped")
    local = timer.model_copy(update={"start_time": timer.start_time.astimezone(tz)})
    return local.finished(end.astimezone(tz))


async def _now(state: State, user_id: str) -> datetime:
    _, tz = await zone_of(state, user_id)
    return datetime.fromtimestamp(state.clock(), tz)


@router.get("")
async def get_timer(user: CurrentUser, state: State) -> dict[str, Any]:
    """The running timer (`timer` null when none runs), with `elapsed_minutes` and
    `long_running` (more than 12 hours: flagged)."""
    now = await _now(state, user.id)
    timer = await state.store.get_timer(user.id)
    return {"timer": None if timer is None else timer_json(timer, now)}


@router.post("", status_code=201)
async def start_timer(body: TimerIn, user: CurrentUser, state: State) -> dict[str, Any]:
    """Start a timer. One already running is stopped at the new one's start and logged:
    `stopped` is that entry (null when none ran). A running one that is flagged (over
    12 hours) is not stopped for you: 409 timer_too_long."""
    return await start(state, user.id, body)


async def start(state: ServerState, user_id: str, body: TimerIn) -> dict[str, Any]:
    """What `POST /v1/timer` does, for the web app too (ApiError on refusal)."""
    now = await _now(state, user_id)
    tz = now.tzinfo or UTC
    start = now if body.start_time is None else _instant(body.start_time)
    if start > now + FUTURE_SLACK:
        raise invalid("body.start_time", "a timer cannot start in the future")
    if start < now - MAX_BACKDATE:
        raise invalid("body.start_time", "a timer starts at most 24 hours ago")
    start = start.astimezone(tz)  # safe: within a day of now
    fields = body.model_dump(mode="json", include=set(TimerFields.model_fields))
    new = RunningTimer(**fields, id=new_id(), start_time=start)
    for _ in range(SWAP_TRIES):
        running = await state.store.get_timer(user_id)
        finished = None
        if running is not None:
            if running.is_long(start):
                raise _too_long(running, now)
            finished = _entry_of(running, start, "body.start_time", tz)
        done, logged = await state.store.swap_timer(
            user_id, running.id if running else None, new, finished, state.clock()
        )
        if done:
            return {"timer": timer_json(new, now), "stopped": await _answer(state, user_id, logged)}
    raise ApiError(409, "conflict", "the timer changed meanwhile (another start or stop): retry")


@router.post("/stop")
async def stop_timer(
    user: CurrentUser, state: State, body: Annotated[TimerStop | None, Body()] = None
) -> dict[str, Any]:
    """Stop the running timer at `end_time` (default now) and log it: `entry` is the
    entry (with its overlaps and warnings), `timer` the timer as it ran. 404 when no
    timer runs; 409 timer_too_long for a flagged one without end_time or keep_long."""
    return await stop(state, user.id, body or TimerStop())


async def stop(state: ServerState, user_id: str, body: TimerStop) -> dict[str, Any]:
    """What `POST /v1/timer/stop` does, for the web app too (ApiError on refusal)."""
    now = await _now(state, user_id)
    tz = now.tzinfo or UTC
    for _ in range(SWAP_TRIES):
        running = await state.store.get_timer(user_id)
        if running is None:
            raise ApiError(404, "not_found", "no timer is running: start one with POST /v1/timer")
        finished = None
        if not body.discard:
            if body.end_time is not None:
                finished = _entry_of(running, body.end_time, "body.end_time", tz)
            elif running.is_long(now) and not body.keep_long:
                raise _too_long(running, now)
            else:
                finished = _entry_of(running, now, "body.end_time", tz)
        done, logged = await state.store.swap_timer(
            user_id, running.id, None, finished, state.clock()
        )
        if done:
            return {
                "entry": await _answer(state, user_id, logged),
                "timer": timer_json(running, now),
                "discarded": body.discard,
            }
    raise ApiError(409, "conflict", "the timer changed meanwhile (another start or stop): retry")


async def _answer(state: State, user_id: str, logged: Entry | None) -> dict[str, Any] | None:
    if logged is None:
        return None
    [answer] = await checked_json(state, user_id, [logged])
    return answer
