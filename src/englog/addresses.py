"""HOST:PORT parsing shared by the server's and the worker's listeners and dial
targets, so both refuse the same bad input with the same message."""

from __future__ import annotations


def split_hostport(value: str, flag: str = "address") -> tuple[str, int]:
    """`host:port`, `[v6]:port` or `:port` (all interfaces of the default host).
    ValueError names the flag and says what is wrong."""
    host, sep, port = value.strip().rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"{flag}: expected HOST:PORT, got {value!r}")
    number = int(port)
    if not 0 <= number <= 65535:
        raise ValueError(f"{flag}: port {number} is out of range 0-65535")
    return host.strip("[]") or "127.0.0.1", number
