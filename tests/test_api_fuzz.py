"""A property-based fuzz of the served API (`make api` on PostgreSQL):
schemathesis generates requests for every `/api` operation in the OpenAPI
document, valid and invalid, signed in as a real user, and runs its default
checks: no server error, and every answer as the document says (status
code, content type, body schema, headers)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.generation.modes import GenerationMode

from tests.conftest import Account, fresh_database_url, register
from tests.pg_cluster import free_port
from tests.servers import ApiProcess

# Bounded run time on 2 cores: examples per operation (valid and invalid).
EXAMPLES_PER_OPERATION = 40


@pytest.fixture(scope="module")
def fuzzed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ApiProcess, Account]]:
    url = fresh_database_url("postgresql", request, tmp_path_factory.mktemp("fuzz"))
    port = free_port()
    server = ApiProcess(port, {"DATABASE_URL": url, "MCP_URL": f"http://127.0.0.1:{port}/mcp"})
    server.start()
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        account = register(http)
    yield server, account
    server.kill()


def operations(server: ApiProcess) -> list:  # type: ignore[type-arg]
    schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
    return [result.ok() for result in schema.get_all_operations() if result.ok().path.startswith("/api/")]


def fuzz(operation, mode: GenerationMode, server: ApiProcess, account: Account) -> None:  # type: ignore[no-untyped-def]
    """Hypothesis drives one operation; schemathesis' default checks judge
    every answer (the first failure, shrunk, fails the test)."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck),
              derandomize=True, database=None, phases=[Phase.explicit, Phase.generate])
    def run(case) -> None:  # type: ignore[no-untyped-def]
        if "user_id" in (case.path_parameters or {}):
            case.path_parameters["user_id"] = account.user_id  # someone else's id is only ever a 403
        headers = {"Authorization": f"Bearer {account.token}"}
        if any(p.name.lower() == "idempotency-key" for p in operation.headers):
            headers["Idempotency-Key"] = str(uuid.uuid4())  # unique per request
        case.call_and_validate(base_url=server.base_url, headers=headers)

    run()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_every_api_operation_holds_to_its_document(fuzzed: tuple[ApiProcess, Account], mode: GenerationMode) -> None:
    server, account = fuzzed
    checked = []
    for operation in operations(server):
        fuzz(operation, mode, server, account)
        checked.append(operation.label)
    assert len(checked) >= 9, checked
