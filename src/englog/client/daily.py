"""The client's side of the daily tools: the running timer (`/v1/timer`), the weekly
target (`PATCH /v1/me`) and trends across weeks (`/v1/trends`), as calls and models."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, TypeAdapter

from englog.client._calls import ME, Call, _model, checked
from englog.client.models import Entry, Me


class _View(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Timer(_View):
    """The running timer: what it will log, since when, for how long; `long_running`
    (over 12 hours) means it will not be stopped without an end or `keep_long`."""

    id: str
    title: str
    description: str | None = None
    type: str
    project: str | None = None
    tags: list[str] = []
    value_rating: str = "medium"
    impact_level: str = "personal"
    start_time: datetime
    elapsed_minutes: float
    long_running: bool = False
    warnings: list[str] = []


class TimerStarted(_View):
    timer: Timer
    stopped: Entry | None = None  # the timer that was running, logged


class TimerStopped(_View):
    entry: Entry | None  # None when discarded
    timer: Timer
    discarded: bool = False


class ProjectMinutes(_View):
    project: str | None
    minutes: float


class WeekTrend(_View):
    week_start: str
    week_end: str
    entry_count: int
    total_minutes: float
    clock_minutes: float
    overlap_minutes: float = 0.0
    focus_minutes: float
    focus_ratio: float
    meeting_minutes: float
    meeting_share: float
    top_projects: list[ProjectMinutes] = []
    target_progress: float | None = None
    focus_target_met: bool | None = None


class Trends(_View):
    time_zone: str
    week_start: str
    weekly_target_hours: float | None = None
    focus_target: float | None = None
    weeks: list[WeekTrend]


TIMER = _model(TypeAdapter(Timer | None), "timer")
STARTED = _model(TypeAdapter(TimerStarted))
STOPPED = _model(TypeAdapter(TimerStopped))
TRENDS = _model(TypeAdapter(Trends))


def get_timer() -> Call[Timer | None]:
    return Call("GET", "/v1/timer", TIMER)


def start_timer(body: dict[str, Any]) -> Call[TimerStarted]:
    # Not resent: a lost answer to a start that reached the server would stop it again.
    return Call("POST", "/v1/timer", STARTED, json=body, resend=False)


def stop_timer(body: dict[str, Any]) -> Call[TimerStopped]:
    return Call("POST", "/v1/timer/stop", STOPPED, json=body, resend=False)


def get_trends(weeks: int) -> Call[Trends]:
    return Call("GET", "/v1/trends", TRENDS, params={"weeks": weeks})


def set_target(hours: float | None, focus: float | None) -> Call[Me]:
    return Call("PATCH", "/v1/me", ME, json={"weekly_target_hours": hours, "focus_target": focus})


def _email(response: httpx.Response) -> str | None:
    email = checked(response).json().get("email")
    return email if isinstance(email, str) and email else None


def account_email() -> Call[str | None]:
    """The account's email from `GET /v1/me`, on servers whose accounts have one."""
    return Call("GET", "/v1/me", _email)
