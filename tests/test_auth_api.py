"""Registration, login and what the tokens they issue are good for."""

from __future__ import annotations

import time
import uuid

import httpx
import jwt

from tests.support.api import Account, register, send


def test_register_returns_201_with_a_bearer_token(client: httpx.Client) -> None:
    response = client.post("/api/auth/register", json={"email": "New@Example.com", "password": "Correct-horse-9"})
    assert response.status_code == 201
    body = response.json()
    assert body["token_type"] == "bearer"
    assert uuid.UUID(body["user_id"])
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == body["user_id"] and "exp" in claims


def test_duplicate_email_is_409_case_insensitively(client: httpx.Client) -> None:
    register(client, "dup@example.com")
    response = client.post("/api/auth/register", json={"email": "DUP@example.com", "password": "Correct-horse-9"})
    assert response.status_code == 409
    assert response.json()["error_code"] == "conflict"


def test_weak_password_is_400(client: httpx.Client) -> None:
    response = client.post("/api/auth/register", json={"email": "weak@example.com", "password": "short"})
    assert response.status_code == 400
    assert response.json()["error_code"] == "invalid_request"


def test_malformed_email_is_400(client: httpx.Client) -> None:
    response = client.post("/api/auth/register", json={"email": "not-an-email", "password": "Correct-horse-9"})
    assert response.status_code == 400


def test_register_with_missing_fields_is_400_not_422(client: httpx.Client) -> None:
    response = client.post("/api/auth/register", json={"email": "x@example.com"})
    assert response.status_code == 400
    assert response.json()["status"] == "error"


def test_login_returns_a_working_token(client: httpx.Client) -> None:
    account = register(client, "login@example.com")
    response = client.post("/api/auth/login", json={"email": "LOGIN@example.com", "password": "Correct-horse-9"})
    assert response.status_code == 200
    body = response.json()
    assert body["user_id"] == account.user_id
    relogged = Account(body["user_id"], body["access_token"], account.email)
    assert send(client, relogged, "hello").status_code == 200


def test_wrong_password_and_unknown_email_get_the_same_401(client: httpx.Client) -> None:
    register(client, "known@example.com")
    wrong = client.post("/api/auth/login", json={"email": "known@example.com", "password": "Wrong-horse-9"})
    unknown = client.post("/api/auth/login", json={"email": "nobody@example.com", "password": "Wrong-horse-9"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error_code"] == "invalid_auth"


def test_password_is_stored_hashed(client: httpx.Client, engine) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    register(client, "hash@example.com", password="Correct-horse-9")
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT password_hash FROM users WHERE email='hash@example.com'")).scalar_one()
    assert "Correct-horse-9" not in stored and stored.startswith("$argon2")


def test_expired_token_is_401(client: httpx.Client, alice: Account) -> None:
    from chatapp.config import get_settings

    expired = jwt.encode(
        {"sub": alice.user_id, "exp": int(time.time()) - 10}, get_settings().jwt_signing_key, algorithm="HS256"
    )
    response = send(client, Account(alice.user_id, expired, alice.email), "hi")
    assert response.status_code == 401
    assert response.json()["error_code"] == "invalid_auth"
