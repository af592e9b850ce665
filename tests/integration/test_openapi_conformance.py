"""The REST API against its own OpenAPI document (schemathesis), on a real server process.

Every operation is fuzzed from `/openapi.json` with schema-valid and schema-invalid
requests, and every answer goes through all of schemathesis's response checks: no 5xx,
only documented status codes, bodies and headers that match the documented schemas
(the error shape `{"error", "detail"}` included), invalid input refused with a 4xx,
valid input accepted (or refused with a documented 4xx: rules a schema cannot say,
such as "an entry id that exists", answer a documented 422), a missing or wrong token
answered 401, unsupported methods 405 with `Allow`. Examples per operation are bounded
so the whole run takes about a minute; the server must still be serving at the end."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode

from englog.server.http.models import MAX_WAIT_S
from tests.support.procs import ServerProc, cluster

EXAMPLES_PER_OPERATION = 30

# schemathesis's own defaults, with 422 added for schema-valid requests: a body that
# obeys the schema can still break a rule only the server can check (entries that
# exist, a known task type); such answers must be documented, which the
# status_code_conformance and response_schema_conformance checks hold them to.
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "401", "403", "404", "409", "422", "429"]
            }
        },
        "generation": {"max-examples": EXAMPLES_PER_OPERATION},
    }
)


@dataclass(frozen=True)
class Api:
    server: ServerProc
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """A server, a user with a week of entries (so insight and report requests can
    succeed), and nothing else: no worker, so tasks stay pending."""
    with cluster(tmp_path_factory.mktemp("openapi")) as c:
        server = c.start_server()
        token = c.create_user("fuzzer")
        monday = datetime(2026, 1, 5, 9, tzinfo=UTC)
        entries = [
            {
                "title": f"work {i}",
                "type": "development",
                "start_time": (monday + timedelta(days=i)).isoformat(),
                "end_time": (monday + timedelta(days=i, hours=2)).isoformat(),
                "value_rating": "high",
                "impact_level": "team",
            }
            for i in range(5)
        ]
        with httpx.Client(base_url=server.url, timeout=10) as h:
            r = h.post(
                "/v1/entries/bulk",
                json={"entries": entries},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code == 201, r.text
        yield Api(server, token)


# Requests that may wait for tasks (up to 30 s by the schema) wait at most this long
# here: the tasks fuzzing creates never run (no worker), and examples must stay quick.
FUZZ_WAIT_S = 0.2


def short_waits(case: Any) -> Any:
    """The case with any valid wait shortened to FUZZ_WAIT_S (invalid ones kept)."""
    if isinstance(case.body, dict) and _is_long(case.body.get("timeout_s")):
        case.body["timeout_s"] = FUZZ_WAIT_S
    if isinstance(case.query, dict) and _is_long(case.query.get("wait_s")):
        case.query["wait_s"] = FUZZ_WAIT_S
    return case


def _is_long(value: Any) -> bool:
    """A wait the server accepts (at most 30 s) and longer than FUZZ_WAIT_S; out-of-range
    values are left alone, for the server to refuse."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and FUZZ_WAIT_S < value <= MAX_WAIT_S


def _auth_broken(case: Any) -> bool:
    """A negative case with a missing or wrong Authorization among its faults goes
    without our token: adding it could leave a case whose other faults vanish when sent
    (a null query parameter is dropped) valid, and schemathesis would call it accepted."""
    meta = case.meta
    data = getattr(getattr(meta, "phase", None), "data", None)
    if meta is None or data is None or not meta.generation.mode.is_negative:
        return False
    names = {m.parameter for m in getattr(data, "mutations", ())} or {data.parameter}
    return "Authorization" in names


def check_operation(operation: Any, mode: GenerationMode, api: Api) -> str | None:
    """Fuzz one operation in one mode; the first failure found, described, or None."""

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        # No shrinking: each replay hits a server whose state earlier examples changed.
        phases=[Phase.explicit, Phase.generate],
    )
    @given(case=operation.as_strategy(generation_mode=mode).map(short_waits))
    def fuzz(case: Any) -> None:
        headers = {} if _auth_broken(case) else api.auth
        case.call_and_validate(headers=headers, timeout=15)

    try:
        fuzz()
    except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
        return None
    except (Exception, FailureGroup) as exc:  # FailureGroup is a BaseExceptionGroup
        return f"{operation.label} ({mode.value}): {exc}"
    return None


# The operations are fuzzed in shards, so that parallel runs of the suite spread them;
# each shard has a server of its own (the module's fixture, per worker).
SHARDS = 4
SPREAD_OVER_WORKERS = True  # tests/conftest.py: the shards run on several workers


@pytest.mark.parametrize("shard", range(SHARDS))
def test_every_operation_answers_as_documented(api: Api, shard: int) -> None:
    schema = schemathesis.openapi.from_url(f"{api.server.url}/openapi.json", config=CONFIG)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    failures = [
        failure
        for operation in operations[shard::SHARDS]
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        if (failure := check_operation(operation, mode, api)) is not None
    ]
    assert not failures, f"{len(failures)} failing:\n\n" + "\n\n".join(failures)
    # The server still serves after the fuzzing, and nothing crashed inside it.
    with httpx.Client(base_url=api.server.url, headers=api.auth, timeout=10) as h:
        assert h.get("/readiness").status_code == 200
        assert h.get("/v1/entries").status_code == 200
    log = api.server.log()
    assert "Traceback" not in log, log[-4000:]


def test_every_error_is_documented_in_the_apis_own_shape(api: Api) -> None:
    """No trace of FastAPI's default `ValidationError` (loc/msg/type) is left, and every
    documented 4xx/5xx answer of every operation is the `Error` or `InvalidRequest`
    schema (the probes' own 503 body aside)."""
    document = httpx.get(f"{api.server.url}/openapi.json", timeout=10).json()
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert schemas["FieldError"]["required"] == ["field", "message"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            errors = {int(s): r for s, r in operation["responses"].items() if int(s) >= 400}
            where = f"{method.upper()} {path}"
            if path not in ("/health", "/readiness", "/metrics"):
                assert 429 in errors, where
            for status, response in errors.items():
                ref = response["content"]["application/json"]["schema"].get("$ref", "")
                if path in ("/health", "/readiness") and status == 503:
                    continue
                wanted = "InvalidRequest" if status == 422 else "Error"
                assert ref.endswith(f"/{wanted}"), (where, status, ref)
