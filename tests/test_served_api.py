"""The API as served (`make api`: Reflex backend with the API mounted), on
PostgreSQL and SQLite: every `/api` answer in the error shape, bodies capped
before they are read, rate limits, 401 challenges, security headers, CORS."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.api import fresh_database_url, register
from tests.support.mcp_client import INITIALIZE, MCP_HEADERS
from tests.support.ports import free_port
from tests.support.servers import ApiProcess

LOGIN_LIMIT = 3


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    tmp: Path = tmp_path_factory.mktemp("served")
    url = fresh_database_url(request.param, request, tmp)
    port = free_port()
    server = ApiProcess(port, {
        "DATABASE_URL": url, "MCP_URL": f"http://127.0.0.1:{port}/mcp",
        "RATE_LIMIT_LOGIN_PER_EMAIL": f"{LOGIN_LIMIT}/minute",
    })
    server.start()
    yield server
    server.kill()


@pytest.fixture
def http(served: ApiProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.base_url, timeout=30) as client:
        yield client


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["status"] == "error" and body["error_code"] == code


def test_unknown_api_route_is_404_not_found(http: httpx.Client) -> None:
    assert_error(http.get("/api/no/such/route"), 404, "not_found")


def test_wrong_method_on_an_api_route_is_405_method_not_allowed(http: httpx.Client) -> None:
    response = http.delete("/api/auth/login")
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["allow"]


def test_wrong_method_on_a_turn_route_is_405_method_not_allowed(http: httpx.Client) -> None:
    conversation = "/api/7f4ee6cf-3d52-4d5e-9f0e-6b1f1f3b7a10/conversations/0a3c1f4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b"
    response = http.get(f"{conversation}/stop")
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"


def test_wrong_method_on_health_is_405_not_the_account_routes_401(http: httpx.Client) -> None:
    response = http.delete("/api/health")
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"] and "www-authenticate" not in response.headers


def test_a_wrong_method_on_conversation_import_is_405_not_a_conversation_lookup(http: httpx.Client) -> None:
    response = http.get("/api/7f4ee6cf-3d52-4d5e-9f0e-6b1f1f3b7a10/conversations/import")
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"


def test_deleting_an_account_without_a_token_is_still_401(http: httpx.Client) -> None:
    assert_error(http.delete("/api/7f4ee6cf-3d52-4d5e-9f0e-6b1f1f3b7a10"), 401, "invalid_auth")


def raw_post(port: int, path: str, head_extra: str, chunks: Iterator[bytes], deadline: float = 20.0) -> bytes:
    """Send a request by hand, stopping the upload as soon as an answer
    arrives; returns the answer's first bytes."""
    with socket.create_connection(("127.0.0.1", port), timeout=deadline) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n{head_extra}\r\n".encode())
        sock.setblocking(False)
        stop = time.monotonic() + deadline
        for chunk in chunks:
            if time.monotonic() > stop:
                break
            try:
                answer = sock.recv(4096)
                if answer:
                    return answer
            except BlockingIOError:
                pass
            try:
                sock.sendall(chunk)
            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                break
        sock.settimeout(deadline)
        return sock.recv(4096)


def test_a_declared_100_mb_body_is_413_before_it_is_read(served: ApiProcess) -> None:
    size = 100 * 1024 * 1024
    chunks = (b"x" * 65536 for _ in range(size // 65536))
    answer = raw_post(served.port, "/api/auth/login", f"Content-Length: {size}\r\n", chunks)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"payload_too_large"' in answer


def test_a_streamed_body_over_the_cap_is_413(served: ApiProcess) -> None:
    def chunked() -> Iterator[bytes]:
        for _ in range(1600):  # up to 100 MB, 64 KiB at a time
            yield b"10000\r\n" + b"x" * 65536 + b"\r\n"

    answer = raw_post(served.port, "/api/auth/login", "Transfer-Encoding: chunked\r\n", chunked())
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"payload_too_large"' in answer


def test_a_body_under_the_cap_is_read_normally(http: httpx.Client) -> None:
    response = http.post("/api/auth/login", json={"email": "a@example.com", "password": "x" * 200, "pad": "y" * 60000})
    assert_error(response, 400, "invalid_request")  # unknown field, read and parsed


def test_sign_in_over_the_per_email_limit_is_429_with_retry_after(http: httpx.Client) -> None:
    account = register(http)
    for _ in range(LOGIN_LIMIT):
        assert http.post("/api/auth/login", json={"email": account.email, "password": "Wrong-horse-9"}).status_code == 401
    response = http.post("/api/auth/login", json={"email": account.email, "password": "Correct-horse-9"})
    assert_error(response, 429, "rate_limited")
    assert 1 <= int(response.headers["retry-after"]) <= 60


def test_401_carries_a_bearer_challenge(http: httpx.Client) -> None:
    account = register(http)
    response = http.get(f"/api/{account.user_id}/tasks")
    assert_error(response, 401, "invalid_auth")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_api_responses_carry_security_headers(http: httpx.Client) -> None:
    for response in (http.get("/api/health"), http.get("/api/nothing")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"


def test_backend_pages_carry_a_content_security_policy(http: httpx.Client) -> None:
    response = http.get("/ping")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_cors_refuses_an_unlisted_origin(http: httpx.Client) -> None:
    response = http.options("/api/auth/login", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert response.headers.get("access-control-allow-origin") != "https://evil.example"
    simple = http.get("/api/health", headers={"Origin": "https://evil.example", "Cookie": "a=b"})
    assert "access-control-allow-origin" not in simple.headers


def test_cors_allows_the_web_uis_own_origin(http: httpx.Client) -> None:
    origin = "http://localhost:3000"
    response = http.options("/api/auth/login", headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin


def test_served_mcp_without_a_token_is_401_with_resource_metadata(http: httpx.Client, served: ApiProcess) -> None:
    response = http.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS)
    assert response.status_code == 401
    assert f'resource_metadata="{served.base_url}/.well-known/oauth-protected-resource/mcp"' in response.headers["www-authenticate"]
    assert http.get("/.well-known/oauth-protected-resource").json()["resource"] == f"{served.base_url}/mcp"


def test_served_mcp_with_a_users_token_initializes(http: httpx.Client) -> None:
    account = register(http)
    response = http.post("/mcp", json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": f"Bearer {account.token}"})
    assert response.status_code == 200 and response.json()["result"]["serverInfo"]["name"] == "tasks"


def test_served_chat_turn_reaches_the_mcp_tools(http: httpx.Client) -> None:
    account = register(http)
    response = http.post(account.chat_path(), headers=account.headers, json={"message": "Add task: Buy groceries"})
    assert response.status_code == 200, response.text
    assert response.json()["messages"][-1]["tool_calls"][0]["result"]["status"] == "created"
