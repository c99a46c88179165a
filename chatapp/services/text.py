"""What text the app stores: any Unicode string a database can hold.

PostgreSQL refuses NUL (0x00) in text and neither driver can encode a lone
surrogate (U+D800-U+DFFF, reachable through JSON's "\\ud800" escape) to
UTF-8, so both are refused at the edge as bad input (400), never left to
fail in the database or the password hasher (500).
"""

from __future__ import annotations

import re
import uuid

from chatapp.services.errors import InvalidInput

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# The one spelling of an id the API accepts: 8-4-4-4-12 hex digits with
# hyphens (RFC 9562), either case. Braces, "urn:uuid:" and the 32-digit form
# are refused, so every route treats the same string the same way.
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_UUID = re.compile(UUID_PATTERN)
# The columns holding seq and task_id are 32-bit integers on PostgreSQL.
MAX_INT32 = 2**31 - 1


MAX_MESSAGE_CHARS = 5000  # a chat message, in code points

def _char_class(chars: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in chars)


# Exactly the characters Python's str.strip()/split() treat as whitespace,
# spelled so JSON Schema (ECMA-262) and Python `re` read the class the same.
WHITESPACE = _char_class("".join(c for c in map(chr, range(0x10000)) if c.isspace()))
# The rules below are the real ones: the services check them with Python's
# `re`, and the OpenAPI document states the same patterns.
NO_NUL_PATTERN = "^[^\\u0000]*$"
NOT_BLANK_PATTERN = f"^[^\\u0000]*[^{WHITESPACE}\\u0000][^\\u0000]*$"
_EMAIL_CHAR = f"[^@{WHITESPACE}\\u0000]"
EMAIL_PATTERN = f"^{_EMAIL_CHAR}{{1,64}}@{_EMAIL_CHAR}+\\.{_EMAIL_CHAR}+$"
# 8-256 characters; not only lowercase a-z, not only digits, not only spaces:
# something beyond [a-z0-9] and whitespace, or both a letter and a digit.
PASSWORD_PATTERN = (
    f"^[^\\u0000]*(?:[^a-z0-9{WHITESPACE}\\u0000]|[a-z][^\\u0000]*[0-9]|[0-9][^\\u0000]*[a-z])[^\\u0000]*$"
)


def unstorable_reason(value: str) -> str | None:
    found = UNSTORABLE.search(value)
    if found is None:
        return None
    return "contains a NUL character" if found.group() == "\x00" else "contains an unpaired surrogate (invalid Unicode)"


def check_text(value: str, field: str) -> str:
    reason = unstorable_reason(value)
    if reason:
        raise InvalidInput(f"{field} {reason}.")
    return value


def parse_uuid(value: str, field: str) -> uuid.UUID:
    if not isinstance(value, str) or not _UUID.match(value):
        raise InvalidInput(f"{field} must be a UUID (8-4-4-4-12 hex digits with hyphens).")
    return uuid.UUID(value)
