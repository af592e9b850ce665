"""SQL schema migrations, applied in version order at store open.

File names are `<backend>_<version>_<name>.sql` (for example `sqlite_0001_initial.sql`);
each backend applies only its own files and records them in `schema_migrations`."""

from __future__ import annotations

import importlib.resources
import re


def migration_files(pattern: re.Pattern[str]) -> list[tuple[int, str, str]]:
    """(version, name, script) of the packaged migrations whose names match, in order."""
    root = importlib.resources.files(__name__)
    found = []
    for item in root.iterdir():
        match = pattern.match(item.name)
        if match:
            found.append((int(match.group(1)), item.name, item.read_text(encoding="utf-8")))
    return sorted(found)
