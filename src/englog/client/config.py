"""Where the client finds its server and token: the `url`/`token` arguments, else
ENGLOG_URL / ENGLOG_TOKEN, else the file `englog login` writes
(`$XDG_CONFIG_HOME/englog/config.toml`, mode 0600). The first that gives a value wins,
separately for the URL and the token."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from englog.client.errors import ConfigError

DEFAULT_URL = "http://127.0.0.1:8080"
URL_ENV = "ENGLOG_URL"
TOKEN_ENV = "ENGLOG_TOKEN"
CONFIG_ENV = "ENGLOG_CONFIG"  # an explicit file, for tests and several profiles


def config_path() -> Path:
    """ENGLOG_CONFIG, else `$XDG_CONFIG_HOME/englog/config.toml` (XDG's default
    `~/.config` when the variable is unset or empty)."""
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "englog" / "config.toml"


def read_config(path: Path | None = None) -> dict[str, str]:
    """The saved settings; empty when there is no file. A file that is not TOML is a
    ConfigError naming it, so a hand edit gone wrong is not mistaken for a logout."""
    path = path or config_path()
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix or delete it") from exc
    return {k: v for k, v in data.items() if isinstance(v, str)}


def write_config(values: Mapping[str, str], path: Path | None = None) -> Path:
    """Save `values` (strings) readable by the owner only: it holds a token."""
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    lines = [f"{key} = {_toml_string(value)}\n" for key, value in sorted(values.items())]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.writelines(lines)
    os.chmod(path, 0o600)  # an older file may have been created with looser bits
    return path


def _toml_string(value: str) -> str:
    """A TOML basic string (the JSON escapes TOML shares)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped)
    return f'"{escaped}"'


@dataclass(frozen=True, slots=True)
class Settings:
    """The resolved connection settings and where each came from (for `whoami`)."""

    url: str
    token: str | None
    url_source: str
    token_source: str


def resolve(url: str | None = None, token: str | None = None) -> Settings:
    """Apply the precedence rule; the URL falls back to the local default server."""
    saved: dict[str, str] | None = None

    def pick(given: str | None, env: str, key: str) -> tuple[str | None, str]:
        nonlocal saved
        if given:
            return given, "argument"
        if os.environ.get(env):
            return os.environ[env], env
        if saved is None:
            saved = read_config()
        if saved.get(key):
            return saved[key], str(config_path())
        return None, "default"

    found_url, url_source = pick(url, URL_ENV, "url")
    found_token, token_source = pick(token, TOKEN_ENV, "token")
    return Settings((found_url or DEFAULT_URL).rstrip("/"), found_token, url_source, token_source)
