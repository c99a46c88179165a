"""A worker verifies a bearer token's signature once (services/verified_tokens):
later requests with the same token are answered from memory, but never
past what PyJWT itself would accept."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import jwt
import pytest

from chatapp.config import Settings
from chatapp.services import auth
from chatapp.services.auth import api_audience, decode_claims, issue_token, issue_tool_token, mcp_audience
from chatapp.services.errors import InvalidAuth
from chatapp.services.verified_tokens import VerifiedTokens

SETTINGS = Settings(jwt_secret="a-secret-for-the-verified-token-tests-0123456789")
OTHER_KEY = Settings(jwt_secret="another-secret-for-the-verified-token-tests-987")


@pytest.fixture
def pyjwt_decodes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The tokens PyJWT really decodes (its own decode runs)."""
    decoded: list[str] = []
    real_decode = jwt.decode

    def counting_decode(token: str, *args: object, **kwargs: object) -> dict:
        decoded.append(token)
        return real_decode(token, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(auth.jwt, "decode", counting_decode)
    monkeypatch.setattr(auth, "VERIFIED", VerifiedTokens())
    yield decoded


def test_a_token_verified_once_is_not_decoded_again(pyjwt_decodes: list[str]) -> None:
    token = issue_token(uuid.uuid4(), SETTINGS)
    first = decode_claims(token, SETTINGS)
    assert decode_claims(token, SETTINGS) == first
    assert pyjwt_decodes == [token]


def test_a_remembered_token_that_has_since_expired_is_refused_as_expired(pyjwt_decodes: list[str]) -> None:
    now = int(time.time())
    claims = {"sub": str(uuid.uuid4()), "iat": now - 60, "exp": now - 1, "iss": SETTINGS.base_url,
              "aud": [api_audience(SETTINGS)], "ver": 0}
    token = jwt.encode(claims, SETTINGS.jwt_signing_key, algorithm="HS256")
    # As if verified while it was current.
    auth.VERIFIED.remember((token, api_audience(SETTINGS), SETTINGS.jwt_signing_key, SETTINGS.base_url), claims)
    with pytest.raises(InvalidAuth, match="expired"):
        decode_claims(token, SETTINGS)
    assert pyjwt_decodes == [token]


def test_a_remembered_token_is_still_refused_under_another_signing_key(pyjwt_decodes: list[str]) -> None:
    token = issue_token(uuid.uuid4(), SETTINGS)
    decode_claims(token, SETTINGS)
    with pytest.raises(InvalidAuth, match="Invalid token"):
        decode_claims(token, OTHER_KEY)


def test_a_tool_token_verified_for_mcp_is_still_refused_by_the_rest_api(pyjwt_decodes: list[str]) -> None:
    token = issue_tool_token(uuid.uuid4(), SETTINGS, 60)
    decode_claims(token, SETTINGS, audience=mcp_audience(SETTINGS))
    with pytest.raises(InvalidAuth, match="not meant for this service"):
        decode_claims(token, SETTINGS)


def test_a_refused_token_is_not_remembered(pyjwt_decodes: list[str]) -> None:
    token = jwt.encode({"sub": str(uuid.uuid4()), "exp": int(time.time()) + 60}, OTHER_KEY.jwt_signing_key)
    for _ in range(2):
        with pytest.raises(InvalidAuth):
            decode_claims(token, SETTINGS)
    assert pyjwt_decodes == [token, token] and len(auth.VERIFIED) == 0


def test_changing_the_returned_claims_does_not_change_the_remembered_ones(pyjwt_decodes: list[str]) -> None:
    token = issue_token(uuid.uuid4(), SETTINGS)
    claims = decode_claims(token, SETTINGS)
    claims["sub"] = "someone else"
    claims["aud"].append("another service")
    again = decode_claims(token, SETTINGS)
    assert uuid.UUID(again["sub"]) and "another service" not in again["aud"]


def test_a_full_map_forgets_its_oldest_token_first() -> None:
    tokens = VerifiedTokens(size=2)
    claims = {"sub": "s", "exp": int(time.time()) + 60}
    for name in ("a", "b", "c"):
        tokens.remember((name, "aud", "key", "iss"), claims)
    assert tokens.get(("a", "aud", "key", "iss")) is None
    assert tokens.get(("b", "aud", "key", "iss")) == tokens.get(("c", "aud", "key", "iss")) == claims


@pytest.mark.parametrize("claim", ["iat", "nbf"])
def test_claims_not_yet_valid_by_the_clock_are_not_answered_from_memory(claim: str) -> None:
    now = 1_000_000.0
    tokens = VerifiedTokens(clock=lambda: now)
    tokens.remember(("t", "aud", "key", "iss"), {"sub": "s", "exp": now + 60, claim: now + 1})
    assert tokens.get(("t", "aud", "key", "iss")) is None


def test_claims_are_answered_from_memory_up_to_but_not_at_their_expiry() -> None:
    now = 1_000_000.0
    tokens = VerifiedTokens(clock=lambda: now)
    tokens.remember(("before", "aud", "key", "iss"), {"sub": "s", "exp": now + 1, "iat": now, "nbf": now})
    tokens.remember(("at", "aud", "key", "iss"), {"sub": "s", "exp": now})
    assert tokens.get(("before", "aud", "key", "iss")) is not None  # PyJWT: iat and nbf equal to now are valid
    assert tokens.get(("at", "aud", "key", "iss")) is None  # PyJWT: exp equal to now has expired
