"""`englog up`'s saved state and CLI sign-in, and the hints a worker logs when it cannot
reach its server (issue 24)."""

from __future__ import annotations

from pathlib import Path

import pytest

from englog.client import read_config, write_config
from englog.up import UpError, UpState, data_dir, sign_cli_in
from englog.worker.connection import connection_hint


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("ENGLOG_CONFIG", raising=False)
    monkeypatch.delenv("ENGLOG_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path


def test_data_dir_follows_xdg_and_the_override(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert data_dir() == home / "data" / "englog"
    monkeypatch.setenv("ENGLOG_DATA_DIR", str(home / "elsewhere"))
    assert data_dir() == home / "elsewhere"


def test_state_round_trips_private_and_a_bad_file_is_one_message(home: Path) -> None:
    path = home / "up.json"
    assert UpState.load(path) is None
    state = UpState("ada", "eng_x", "adm_y")
    state.save(path)
    assert UpState.load(path) == state
    assert path.stat().st_mode & 0o077 == 0
    path.write_text("{not json")
    with pytest.raises(UpError, match="move it away"):
        UpState.load(path)


def test_the_cli_is_signed_in_first_and_a_login_elsewhere_is_kept(home: Path) -> None:
    said = sign_cli_in("http://127.0.0.1:8080", "eng_mine", first=True)
    assert "signed in" in said
    assert read_config() == {"url": "http://127.0.0.1:8080", "token": "eng_mine"}
    sign_cli_in("http://127.0.0.1:9090", "eng_mine", first=False)  # a new port: followed
    assert read_config()["url"] == "http://127.0.0.1:9090"
    write_config({"url": "https://team.example", "token": "eng_team"})
    said = sign_cli_in("http://127.0.0.1:8080", "eng_mine", first=False)
    assert "stays signed in to https://team.example" in said
    assert read_config()["token"] == "eng_team"


@pytest.mark.parametrize(
    ("cause", "tls", "words"),
    [
        ("UNAVAILABLE: ipv4:127.0.0.1:1: Failed to connect to remote host: Connection refused",
         False, "nothing listens"),
        ("UNAVAILABLE: ipv4:127.0.0.1:5: Socket closed", False, "wants TLS"),
        ("UNAVAILABLE: Tls handshake failed (TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL: "
         "WRONG_VERSION_NUMBER", True, "plaintext"),
        ("UNAVAILABLE: errors resolving nope.invalid:50051: Domain name not found",
         False, "does not resolve"),
        ("no answer within 2 s (a wrong address or a firewall)", True, "network"),
        ("UNAVAILABLE: ipv4:127.0.0.1:5: Secure read failed (Socket closed)", True,
         "client certificate"),
        ("UNKNOWN: Tls handshake failed: SSL_ERROR_SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED",
         True, "client certificate"),
        ("UNKNOWN: Tls handshake failed (TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL: "
         "CERTIFICATE_VERIFY_FAILED: unable to get local issuer certificate", True, "--tls-ca"),
    ],
)  # fmt: skip
def test_each_usual_mistake_gets_its_hint(cause: str, tls: bool, words: str) -> None:
    assert words in connection_hint(cause, tls)
