"""The week as a calendar: days as columns, quarter hours as rows on the viewer's clock,
each entry a block at its time. Positions are computed here and drawn with CSS grid
classes (`r-37`, `e-43`, `c-1`, `ce-7`) from a generated stylesheet, because the
Content-Security-Policy forbids inline style.

An entry across midnight is a block on each day it covers. Entries sharing time on a
day sit side by side: each group of overlapping blocks is split into lanes, and a day
column is `COLS` grid columns wide so any number of lanes up to `COLS` divides it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, tzinfo
from functools import lru_cache

from englog.domain import localtime
from englog.domain.entries import Entry

ROW_MINUTES = 15
ROWS_PER_HOUR = 60 // ROW_MINUTES
MAX_ROWS = 24 * ROWS_PER_HOUR
COLS = 12
DAY_MINUTES = 24 * 60
# Hours always shown; the range widens to hold every entry of the week.
FIRST_HOUR, LAST_HOUR = 8, 18


@dataclass(frozen=True, slots=True)
class Block:
    entry: Entry
    start_minute: int  # minutes from local midnight on this day
    end_minute: int  # up to 1440 (the piece runs to midnight)
    row: int = 1
    end_row: int = 2
    col: int = 1
    end_col: int = COLS + 1
    from_before: bool = False  # began the day before
    goes_on: bool = False  # continues the next day

    @property
    def label(self) -> str:
        return f"{_hhmm(self.start_minute)}\u2013{_hhmm(self.end_minute)}"

    @property
    def classes(self) -> str:
        return f"r-{self.row} e-{self.end_row} c-{self.col} ce-{self.end_col}"


@dataclass(frozen=True, slots=True)
class Slot:
    """An empty hour of a day, a link to log an entry starting then."""

    day: date
    hour: int
    row: int

    @property
    def at(self) -> str:
        return f"{self.day}T{self.hour:02d}:00"

    @property
    def classes(self) -> str:
        return f"r-{self.row} e-{self.row + ROWS_PER_HOUR} c-1 ce-{COLS + 1}"


@dataclass(slots=True)
class GridDay:
    day: date
    blocks: list[Block] = field(default_factory=list)
    slots: list[Slot] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class WeekGrid:
    first_hour: int
    last_hour: int  # exclusive
    days: list[GridDay]

    @property
    def hours(self) -> list[tuple[int, str]]:
        """(hour, the classes of its label in the hours column)."""
        return [
            (h, f"r-{self._row(h)} e-{self._row(h) + ROWS_PER_HOUR}")
            for h in range(self.first_hour, self.last_hour)
        ]

    def _row(self, hour: int) -> int:
        return (hour - self.first_hour) * ROWS_PER_HOUR + 1


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _minute_of(moment: datetime, tz: tzinfo) -> int:
    local = moment.astimezone(tz)
    return local.hour * 60 + local.minute


def pieces(entries: Iterable[Entry], days: list[date], tz: tzinfo) -> dict[date, list[Block]]:
    """Each entry cut at local midnights, as unplaced blocks per day of `days`."""
    found: dict[date, list[Block]] = {day: [] for day in days}
    for entry in entries:
        for day in days:
            low, high = localtime.day_bounds(day, tz)
            part = localtime.clip(entry.start_time, entry.end_time, low, high)
            if part is None:
                continue
            start, end = part
            start_minute = _minute_of(start, tz)
            end_minute = DAY_MINUTES if end >= high else _minute_of(end, tz)
            # A piece inside an hour that repeats (clocks going back) keeps a length.
            end_minute = max(end_minute, start_minute + 1)
            found[day].append(
                Block(
                    entry,
                    start_minute,
                    end_minute,
                    from_before=_aware(entry.start_time) < low,
                    goes_on=_aware(entry.end_time) > high,
                )
            )
    return found


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _replace(block: Block, **changes: int) -> Block:
    return replace(block, **changes)


def week_grid(days: list[date], entries: Iterable[Entry], tz: tzinfo) -> WeekGrid:
    """The week's blocks placed in rows (on the clock of `tz`) and lanes."""
    by_day = pieces(entries, days, tz)
    all_blocks = [b for blocks in by_day.values() for b in blocks]
    first = min([FIRST_HOUR, *(b.start_minute // 60 for b in all_blocks)])
    last = max([LAST_HOUR, *(-(-b.end_minute // 60) for b in all_blocks)])
    grid_days = []
    for day in days:
        rowed = [_rows(b, first) for b in by_day[day]]
        grid_days.append(
            GridDay(
                day=day,
                blocks=side_by_side(rowed),
                slots=[Slot(day, h, (h - first) * ROWS_PER_HOUR + 1) for h in range(first, last)],
            )
        )
    return WeekGrid(first, last, grid_days)


def _rows(block: Block, first_hour: int) -> Block:
    offset = first_hour * 60
    row = (block.start_minute - offset) // ROW_MINUTES + 1
    end_row = -(-(block.end_minute - offset) // ROW_MINUTES) + 1
    return _replace(block, row=row, end_row=max(end_row, row + 1))


def side_by_side(blocks: list[Block]) -> list[Block]:
    """Lanes for blocks sharing rows: each group of overlapping blocks splits the day's
    width evenly among its lanes; a block alone takes all of it."""
    ordered = sorted(blocks, key=lambda b: (b.row, -b.end_row, b.entry.id))
    placed: list[Block] = []
    group: list[tuple[Block, int]] = []
    lanes: list[int] = []  # the end row of each lane's last block
    group_end = 0

    def close() -> None:
        width = min(len(lanes), COLS)
        for block, lane in group:
            lane = min(lane, width - 1)
            col = lane * COLS // width + 1
            end_col = max((lane + 1) * COLS // width + 1, col + 1)
            placed.append(_replace(block, col=col, end_col=end_col))

    for block in ordered:
        if group and block.row >= group_end:
            close()
            group, lanes, group_end = [], [], 0
        lane = next((i for i, end in enumerate(lanes) if end <= block.row), len(lanes))
        if lane == len(lanes):
            lanes.append(block.end_row)
        else:
            lanes[lane] = block.end_row
        group.append((block, lane))
        group_end = max(group_end, block.end_row)
    if group:
        close()
    return placed


@lru_cache(maxsize=1)
def stylesheet() -> str:
    """The grid classes the calendar's blocks use (served as /app/calendar.css)."""
    lines = ["/* generated by englog.web.week_grid: grid positions of calendar blocks */"]
    lines += [f".r-{n}{{grid-row-start:{n}}}" for n in range(1, MAX_ROWS + 1)]
    lines += [f".e-{n}{{grid-row-end:{n}}}" for n in range(2, MAX_ROWS + 2)]
    lines += [f".c-{n}{{grid-column-start:{n}}}" for n in range(1, COLS + 1)]
    lines += [f".ce-{n}{{grid-column-end:{n}}}" for n in range(2, COLS + 2)]
    return "\n".join(lines) + "\n"


def quick_add_values(at: str) -> dict[str, str] | None:
    """The quick-add form's start (and an hour) for a slot's `YYYY-MM-DDTHH:MM`."""
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        return None
    return {"start": moment.strftime("%Y-%m-%dT%H:%M"), "duration": "1h"}
