"""Drafting entries from commits and calendar events: sessions, logged time left out,
and the markers that keep a second import from adding anything."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from englog.imports import git, ics
from englog.imports.drafts import markers, short_title, uncovered

T = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)


def c(minutes: int, subject: str = "work", sha: str = "a" * 40) -> git.Commit:
    return git.Commit(sha, T + timedelta(minutes=minutes), "me@example.com", subject)


def test_a_gap_of_exactly_two_hours_keeps_the_session_and_more_splits_it() -> None:
    runs = git.sessions([c(0), c(120), c(241)], timedelta(hours=2))
    assert [[x.when for x in run] for run in runs] == [
        [T, T + timedelta(minutes=120)],
        [T + timedelta(minutes=241)],
    ]


def test_logged_time_is_cut_out_and_slivers_dropped() -> None:
    start, end = T, T + timedelta(hours=3)
    covered = [(T + timedelta(hours=1), T + timedelta(hours=2)),
               (T + timedelta(hours=2, minutes=57), T + timedelta(hours=4))]  # fmt: skip
    assert uncovered(start, end, covered) == [
        (T, T + timedelta(hours=1)),
        (T + timedelta(hours=2), T + timedelta(hours=2, minutes=57)),
    ]
    assert uncovered(start, end, [(T - timedelta(1), T + timedelta(1))]) == []
    # a piece under 5 minutes is not worth a draft
    assert uncovered(start, end, [(T + timedelta(minutes=3), end)]) == []


def test_drafts_name_their_commits_and_those_are_found_again() -> None:
    commits = [c(0, "Parse config", "1" * 40), c(30, "Add tests", "2" * 40)]
    [draft] = git.drafts_from("atlas", commits, [], lead=timedelta(minutes=30))
    assert (draft.start, draft.end) == (T - timedelta(minutes=30), T + timedelta(minutes=30))
    assert draft.title == "Parse config; Add tests" and draft.project == "atlas"
    assert markers([draft.description], git.COMMIT_MARK) == {"1" * 12, "2" * 12}


def test_titles_are_cut_to_what_an_entry_takes() -> None:
    title = short_title(["x" * 150, "y" * 150, "x" * 150])
    assert len(title) == 200 and title.endswith("...")
    assert short_title(["", " "]) == "(untitled)"


def test_declined_is_matched_on_the_address_whatever_its_case() -> None:
    calendar = ics.read_calendar(
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:u1\r\n"
        b"SUMMARY:Pitch\r\nDTSTART:20260304T130000Z\r\nDTEND:20260304T140000Z\r\n"
        b"ATTENDEE;PARTSTAT=DECLINED:mailto:Me@Example.com\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    events = ics.occurrences(calendar, T - timedelta(days=7), T)
    drafts, skipped = ics.drafts_from(events, UTC, "me@example.com", set())
    assert drafts == [] and skipped.declined == 1
    drafts, _ = ics.drafts_from(events, UTC, None, set())
    [draft] = drafts
    assert draft.type == "meeting" and "ics-event: u1@20260304T130000Z" in (draft.description or "")
    again, skipped = ics.drafts_from(events, UTC, None, {"u1@20260304T130000Z"})
    assert again == [] and skipped.imported == 1


def test_an_event_without_an_end_is_skipped_and_counted() -> None:
    calendar = ics.read_calendar(
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:u1\r\n"
        b"DTSTART:20260304T130000Z\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:u2\r\n"
        b"DTSTART:20260304T150000Z\r\nDURATION:PT45M\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    events = ics.occurrences(calendar, T - timedelta(days=7), T)
    drafts, skipped = ics.drafts_from(events, UTC, None, set())
    assert [(d.title, d.minutes) for d in drafts] == [("Meeting", 45)]
    assert skipped.no_duration == 1


spans = st.lists(
    st.tuples(st.integers(0, 600), st.integers(1, 300)).map(
        lambda p: (T + timedelta(minutes=p[0]), T + timedelta(minutes=p[0] + p[1]))
    ),
    max_size=6,
)


@given(covered=spans, start=st.integers(0, 300), length=st.integers(1, 400))
def test_uncovered_pieces_are_exactly_the_free_runs_of_five_minutes_or_more(
    covered: list[tuple[datetime, datetime]], start: int, length: int
) -> None:
    low = T + timedelta(minutes=start)
    minutes = [low + timedelta(minutes=m) for m in range(length)]
    free = [not any(c <= m < d for c, d in covered) for m in minutes]
    runs: list[tuple[datetime, datetime]] = []
    for m, is_free in zip(minutes, free, strict=True):
        if not is_free:
            continue
        if runs and runs[-1][1] == m:
            runs[-1] = (runs[-1][0], m + timedelta(minutes=1))
        else:
            runs.append((m, m + timedelta(minutes=1)))
    wanted = [(a, b) for a, b in runs if b - a >= timedelta(minutes=5)]
    assert uncovered(low, low + timedelta(minutes=length), covered) == wanted
