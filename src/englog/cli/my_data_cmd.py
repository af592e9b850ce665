"""`englog export`, `englog import FILE` and `englog delete-account`: my data out, back
in (skipping entries I already have), and gone."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from englog.cli._app import app, console, err, fail
from englog.cli._remote import TokenOpt, UrlOpt, connect
from englog.cli.import_cmd import import_app


@app.command("export")
def export(
    format: Annotated[str, typer.Option("--format", help="csv (for import) or json")] = "csv",
    out: Annotated[Path | None, typer.Option("--out", help="Write here, not stdout")] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Every entry of yours, as CSV (what `englog import` takes back) or JSON."""
    if format not in ("csv", "json"):
        fail(f"unknown format {format!r}: use csv or json")
    with connect(url, token, timeout=120) as client:
        text = client.export(format)
    if out is None:
        sys.stdout.write(text)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}")
    err.print(f"wrote {out}", highlight=False)


def _key(entry: Any) -> tuple[str, float, float]:
    """Two entries are the same when title and instants match."""
    get = entry.get if isinstance(entry, dict) else lambda k: getattr(entry, k)
    start, end = get("start_time"), get("end_time")
    if isinstance(start, str):
        start, end = datetime.fromisoformat(start), datetime.fromisoformat(end)
    return (str(get("title")), start.timestamp(), end.timestamp())


@import_app.command("csv")
def import_entries(
    file: Annotated[Path, typer.Argument(help="A CSV file from `englog export`")],
    yes: Annotated[bool, typer.Option("--yes", help="Add without asking")] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Add the entries of an export, skipping those you already have (same title, start
    and end); shows what it will add and asks first."""
    from englog.domain.entry_csv import BadCsv, from_csv

    try:
        wanted = from_csv(file.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")
    except (BadCsv, UnicodeDecodeError) as exc:
        fail(f"{file}: {exc}")
    try:
        keys = [_key(e) for e in wanted]
    except (KeyError, ValueError, TypeError) as exc:
        fail(f"{file}: a start_time or end_time is not an ISO 8601 time ({exc})")
    with connect(url, token, timeout=120) as client:
        have = {_key(e) for e in client.entries()}
        new, seen = [], set(have)
        for entry, key in zip(wanted, keys, strict=True):
            if key not in seen:
                new.append(entry)
                seen.add(key)
        skipped = len(wanted) - len(new)
        console.print(
            f"{len(new)} entries to add, {skipped} skipped (already there)", highlight=False
        )
        for entry in new[:5]:
            console.print(f"  {entry['start_time']}  {entry['title']}", highlight=False)
        if len(new) > 5:
            console.print(f"  … and {len(new) - 5} more", highlight=False)
        if not new:
            return
        if not yes and not typer.confirm("add them?"):
            fail("nothing imported")
        stored = client.log_many(new)
    console.print(f"imported {len(stored)} entries", highlight=False)


@app.command("delete-account")
def delete_account(
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask (scripts)")] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Delete your account with its entries, tasks, results, tokens and sessions: asks
    you to type your account name."""
    with connect(url, token) as client:
        name = client.me().name
        if not yes:
            typed = typer.prompt(f"this deletes {name!r} and all of its data; type the name")
            if typed.strip() != name:
                fail("not deleted: the name did not match")
        client.delete_me(name)
    console.print(f"deleted the account {name!r}", highlight=False)
