"""Search across the user's conversations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from chatapp.api.deps import CurrentUser, EngineDep
from chatapp.api.schemas import ErrorResponse, SearchHit, SearchResults
from chatapp.services import search
from chatapp.services.database import in_thread
from chatapp.services.search_query import MAX_QUERY_CHARS
from chatapp.services.text import MAX_INT32, NOT_BLANK_PATTERN

router = APIRouter(prefix="/api/{user_id}", tags=["search"])


@router.get("/search", response_model=SearchResults,
            responses={code: {"model": ErrorResponse} for code in (400, 401, 403, 503)})
async def search_messages(
    user_id: CurrentUser,
    engine: EngineDep,
    q: Annotated[str, Query(
        min_length=1, max_length=MAX_QUERY_CHARS, pattern=NOT_BLANK_PATTERN,
        description='Words (all must match), "quoted phrases", and prefix* words (3+ characters before the *). '
        "Anything else is searched as plain words; an unbalanced quote is ignored.",
    )],
    limit: Annotated[int, Query(ge=1, le=search.MAX_HITS)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_INT32)] = 0,
) -> SearchResults:
    """Your messages and the assistant's, across all your conversations,
    most relevant first, then newest. Each hit names its conversation and
    message (id, role, seq) and carries a snippet: parts of the text, the
    matching ones with `match: true`."""
    hits, more = await in_thread(search.search_messages, engine, user_id=user_id, query=q, limit=limit, offset=offset)
    return SearchResults(hits=[SearchHit.of(hit) for hit in hits], has_more=more)
