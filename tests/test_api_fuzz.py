"""A property-based fuzz of the served API (`make api` on PostgreSQL):
schemathesis generates requests for every `/api` operation in the OpenAPI
document, valid and invalid, signed in as a real user, and runs its default
checks: no server error, and every answer as the document says (status
code, content type, body schema, headers)."""

from __future__ import annotations

import uuid
from urllib.parse import unquote
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis.errors import Unsatisfiable
import jsonschema
from schemathesis.core.failures import FailureGroup
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from tests.support.api import Account, fresh_database_url, register
from tests.support.ports import free_port
from tests.support.servers import ApiProcess

PASSWORD = "Correct-horse-9"  # register()'s default: never what the fuzzer sends as the current password

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


def sign_in_again(server: ApiProcess, account: Account) -> None:
    response = httpx.post(f"{server.base_url}/api/auth/login", json={"email": account.email, "password": PASSWORD}, timeout=30)
    assert response.status_code == 200, response.text
    account.token = response.json()["access_token"]


def operations(server: ApiProcess) -> list:  # type: ignore[type-arg]
    schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
    return [result.ok() for result in schema.get_all_operations() if result.ok().path.startswith("/api/")]


def body_is_valid(document: dict, case) -> bool:  # type: ignore[no-untyped-def]
    """The request body judged by the document itself (Python `re` for patterns)."""
    operation = document["paths"][case.operation.path][case.operation.method.lower()]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    validator = jsonschema.Draft202012Validator({**schema, "components": document["components"]})
    return validator.is_valid(case.body)


def check_negative_rejection(document: dict, case, response) -> None:  # type: ignore[no-untyped-def]
    """schemathesis' own `negative_data_rejection`, except where its mutation
    did not make the body invalid: it violates a `pattern` by appending "*",
    which a "must contain a non-space" or "must mix characters" rule still
    accepts. Such a body is re-judged by the schema."""
    try:
        case.validate_response(response, checks=[negative_data_rejection])
    except FailureGroup:
        meta = case.meta
        only_body = meta is not None and {loc for loc, c in meta.components.items() if c.mode.is_negative} == {ParameterLocation.BODY}
        if not (only_body and body_is_valid(document, case)):
            raise


def fuzz(operation, mode: GenerationMode, server: ApiProcess, account: Account, document: dict) -> None:  # type: ignore[no-untyped-def]
    """Hypothesis drives one operation; schemathesis' default checks judge
    every answer (the first failure, shrunk, fails the test)."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck),
              derandomize=True, database=None, phases=[Phase.explicit, Phase.generate])
    def run(case) -> None:  # type: ignore[no-untyped-def]
        # Reflex's outermost router mounts everything at "" with a `.*` regex, which cannot
        # match a path holding a newline: such a request never reaches chatapp (plain 404).
        assume("\n" not in unquote(case.formatted_path))
        meta = case.meta
        negative_path = meta is not None and meta.is_negative_at(ParameterLocation.PATH)
        negative_header = meta is not None and meta.is_negative_at(ParameterLocation.HEADER)
        if "user_id" in (case.path_parameters or {}) and not negative_path:
            case.path_parameters["user_id"] = account.user_id  # someone else's id is only ever a 403
        # A negative header case is a missing or mangled Authorization: keep it as generated.
        headers = {} if negative_header else {"Authorization": f"Bearer {account.token}"}
        if any(p.name.lower() == "idempotency-key" for p in operation.headers):
            headers["Idempotency-Key"] = str(uuid.uuid4())  # unique per request
        excluded = [negative_data_rejection]
        if operation.path.endswith("/conversations/import"):
            # A schema-valid file can still be an inconsistent export (seq not
            # 1, 2, 3, ...; a reply_to naming no earlier user message): rules
            # JSON Schema cannot state, answered 400. Every other check holds.
            excluded.append(positive_data_acceptance)
        response = case.call_and_validate(base_url=server.base_url, headers=headers, excluded_checks=excluded)
        check_negative_rejection(document, case, response)
        if case.operation.path.endswith("/sessions/revoke") and response.status_code == 204:
            sign_in_again(server, account)  # signed out everywhere: the next cases need a current token

    try:
        run()
    except Unsatisfiable:
        # An operation with nothing to negate (no parameters, no body) has no negative cases.
        assert mode == GenerationMode.NEGATIVE and not operation.body and not any(
            len(group) for group in (operation.path_parameters, operation.query)), operation.label


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_every_api_operation_holds_to_its_document(fuzzed: tuple[ApiProcess, Account], mode: GenerationMode) -> None:
    server, account = fuzzed
    checked = []
    document = httpx.get(f"{server.base_url}/openapi.json").json()
    for operation in operations(server):
        fuzz(operation, mode, server, account, document)
        checked.append(operation.label)
    assert len(checked) >= 9, checked
