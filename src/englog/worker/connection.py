"""The worker's gRPC channel: keepalive so a dead peer is noticed in seconds, TLS or
mTLS from configuration, plaintext only when asked."""

from __future__ import annotations

from pathlib import Path

import grpc

from englog.worker.settings import WorkerSettings

# Above the largest message either side sends: a 1 MiB payload per task in a batch
# (the server caps batches by bytes) and up to 8 MiB of results per report.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024

KEEPALIVE_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 3_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    # Reconnect quickly after the server returns; our own loops add jittered backoff.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2_000),
)


def channel_credentials(settings: WorkerSettings) -> grpc.ChannelCredentials:
    ca = Path(settings.tls_ca).read_bytes() if settings.tls_ca else None
    key = Path(settings.tls_key).read_bytes() if settings.tls_key else None
    cert = Path(settings.tls_cert).read_bytes() if settings.tls_cert else None
    if (key is None) != (cert is None):
        raise ValueError("--tls-cert and --tls-key go together (client certificate for mTLS)")
    return grpc.ssl_channel_credentials(ca, key, cert)


def make_channel(settings: WorkerSettings) -> grpc.aio.Channel:
    if settings.insecure and not (settings.tls_ca or settings.tls_cert):
        return grpc.aio.insecure_channel(settings.server, options=KEEPALIVE_OPTIONS)
    return grpc.aio.secure_channel(
        settings.server, channel_credentials(settings), options=KEEPALIVE_OPTIONS
    )
