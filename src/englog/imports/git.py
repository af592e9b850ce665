"""Sessions of work from a repository's commits, read with the `git` binary (present
wherever there are repositories; no library to build). Commits less than `gap` apart
are one session; a session starts `lead` before its first commit (the work before the
first commit was work too) and ends at its last one."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from englog.errors import EnglogError
from englog.imports.drafts import DESCRIPTION_MAX, Draft, short_title, uncovered

DEFAULT_GAP = timedelta(hours=2)
DEFAULT_LEAD = timedelta(minutes=30)
GIT_TAG = "git"
# How a draft names its commits: "- subject (0123456789ab)"; re-imports skip those.
SHA_LEN = 12
COMMIT_MARK = re.compile(rf"\(([0-9a-f]{{{SHA_LEN}}})\)$", re.MULTILINE)
_SEP = "\x1f"


class GitError(EnglogError):
    """A path that is not a repository, or git that failed or is missing."""


@dataclass(frozen=True, slots=True)
class Commit:
    sha: str
    when: datetime
    email: str
    subject: str


def _git(path: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(path), *args], capture_output=True, text=True, timeout=60
        )
    except FileNotFoundError:
        raise GitError("the git program is not installed (needed to read commits)") from None
    if done.returncode != 0:
        raise GitError(f"{path}: {done.stderr.strip() or 'git failed'}")
    return done.stdout


def repository_root(path: Path) -> Path:
    if not path.exists():
        raise GitError(f"{path}: no such directory")
    try:
        return Path(_git(path, "rev-parse", "--show-toplevel").strip())
    except GitError:
        raise GitError(f"{path} is not inside a git repository") from None


def default_author(root: Path) -> str | None:
    """The repository's configured user.email, if any: by default, your own commits."""
    try:
        return _git(root, "config", "user.email").strip() or None
    except GitError:
        return None


def read_commits(root: Path, since: datetime, author: str | None) -> list[Commit]:
    """Non-merge commits of every branch authored at or after `since`, oldest first."""
    args = ["log", "--all", "--no-merges", f"--since={since.isoformat()}",
            f"--format=%H{_SEP}%aI{_SEP}%ae{_SEP}%s"]  # fmt: skip
    try:
        out = _git(root, *args)
    except GitError as exc:
        if "does not have any commits" in str(exc):
            return []
        raise
    commits = []
    for line in out.splitlines():
        sha, when, email, subject = line.split(_SEP, 3)
        moment = datetime.fromisoformat(when)
        if moment < since or (author and email.lower() != author.lower()):
            continue
        commits.append(Commit(sha, moment, email, subject))
    return sorted(commits, key=lambda c: c.when)


def sessions(commits: Sequence[Commit], gap: timedelta) -> list[list[Commit]]:
    """Commits (oldest first) cut wherever two are more than `gap` apart."""
    out: list[list[Commit]] = []
    for commit in commits:
        if out and commit.when - out[-1][-1].when <= gap:
            out[-1].append(commit)
        else:
            out.append([commit])
    return out


def describe(project: str, commits: Sequence[Commit]) -> str:
    """The commits a draft logs, each with its short id (the re-import marker)."""
    lines = [f"From git ({project}):"]
    size = len(lines[0])
    for commit in commits:
        line = f"- {commit.subject[:80]} ({commit.sha[:SHA_LEN]})"
        if size + len(line) + 1 > DESCRIPTION_MAX:
            break
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines)


def drafts_from(
    project: str,
    commits: Sequence[Commit],
    covered: Iterable[tuple[datetime, datetime]],
    *,
    gap: timedelta = DEFAULT_GAP,
    lead: timedelta = DEFAULT_LEAD,
) -> list[Draft]:
    """Development drafts, one per session (or per piece of it the user's entries leave
    uncovered)."""
    spans = list(covered)
    drafts = []
    for session in sessions(commits, gap):
        start, end = session[0].when - lead, session[-1].when
        for a, b in uncovered(start, end, spans):
            inside = [c for c in session if a <= c.when <= b] or session
            drafts.append(
                Draft(
                    title=short_title(c.subject for c in inside),
                    type="development",
                    start=a,
                    end=b,
                    project=project,
                    description=describe(project, session),
                    tags=[GIT_TAG],
                )
            )
    return drafts
