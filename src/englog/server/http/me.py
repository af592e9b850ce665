"""`/v1/me`: who the token belongs to and the calendar their days are counted in."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from englog.domain.localtime import UnknownZone, Weekday, check_zone
from englog.server.auth import CurrentUser, State
from englog.server.http.errors import invalid, not_found
from englog.store.records import User, UserSettings

router = APIRouter(prefix="/v1/me", tags=["me"])


class MePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="An IANA time zone name, such as America/Los_Angeles",
        examples=["Europe/Berlin"],
    )
    week_start: Weekday | None = Field(default=None, description="The first day of a week")
    # strict: JSON `true` is not the number 1 (pydantic's lax mode would take it).
    weekly_target_hours: float | None = Field(
        default=None,
        gt=0,
        le=168,
        strict=True,
        description="Hours to work a week (null: no target)",
    )
    focus_target: float | None = Field(
        default=None,
        ge=0,
        le=1,
        strict=True,
        description="Share of focus work aimed at, 0 to 1 (null: none)",
    )


def me_json(user: User, settings: UserSettings) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "timezone": settings.zone_name,
        "timezone_set": settings.timezone is not None,
        "week_start": settings.week_start,
        "weekly_target_hours": settings.weekly_target_hours,
        "focus_target": settings.focus_target,
        "created_at": user.created_at,
        "email": user.email,
        "role": user.role,
        "has_password": user.has_password,
    }


@router.get("")
async def get_me(user: CurrentUser, state: State) -> dict[str, Any]:
    settings = await state.store.get_user_settings(user.id)
    if settings is None:
        raise not_found("user")
    return me_json(user, settings)


@router.patch("")
async def patch_me(body: MePatch, user: CurrentUser, state: State) -> dict[str, Any]:
    """Set the zone (an unknown one is a 422 naming it), the week's first day and/or the
    weekly target (`weekly_target_hours`, `focus_target`; null clears one)."""
    if body.timezone is not None:
        try:
            check_zone(body.timezone)
        except UnknownZone as exc:
            raise invalid("body.timezone", str(exc), timezone=body.timezone) from None
    week_start = None if body.week_start is None else str(body.week_start)
    settings = await state.store.set_user_settings(
        user.id, timezone=body.timezone, week_start=week_start
    )
    if settings is None:
        raise not_found("user")
    targets = body.model_fields_set & {"weekly_target_hours", "focus_target"}
    if targets:
        settings = await state.store.set_weekly_target(
            user.id,
            body.weekly_target_hours
            if "weekly_target_hours" in targets
            else settings.weekly_target_hours,
            body.focus_target if "focus_target" in targets else settings.focus_target,
        )
        if settings is None:
            raise not_found("user")
    return me_json(user, settings)
