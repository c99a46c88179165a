"""A conversation as a file: export (JSON or Markdown) and import (JSON)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Body, Query, Response

from chatapp.api.deps import CurrentUser, EngineDep
from chatapp.api.routes_chat import ERRORS, ConversationId, conversation_uuid
from chatapp.api.schemas import ConversationOut
from chatapp.services import transfer
from chatapp.services.database import in_thread

router = APIRouter(prefix="/api/{user_id}/conversations", tags=["export"])

EXPORT_DOC: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    200: {
        "description": "A file download (`Content-Disposition: attachment`): the JSON export "
        "(`format_version` 1), or a Markdown transcript.",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ConversationExport"}},
            "text/markdown": {"schema": {"type": "string"}},
        },
    },
}


def download(content: str, *, media_type: str, filename: str, title: str) -> Response:
    """An attachment named after the conversation: an ASCII name for every
    browser, and the exact title for those that read RFC 6266's `filename*`."""
    extension = filename.rsplit(".", 1)[-1]
    disposition = f'attachment; filename="{filename}"; filename*=UTF-8\'\'{quote(title[:60] + "." + extension, safe="")}'
    return Response(content, media_type=media_type, headers={"Content-Disposition": disposition, "Cache-Control": "no-store"})


@router.get("/{conversation_id}/export", response_class=Response, responses=EXPORT_DOC)
async def export_conversation(
    conversation_id: ConversationId,
    user_id: CurrentUser,
    engine: EngineDep,
    format: Annotated[Literal["json", "markdown"], Query(description="`json` (re-importable) or `markdown`.")] = "json",
) -> Response:
    """The whole conversation as a file: every message with its status and
    tool calls (parameters, result, executed_at)."""
    document = await in_thread(
        transfer.export_conversation, engine, user_id=user_id, conversation_id=conversation_uuid(conversation_id)
    )
    title = document["conversation"]["title"]
    if format == "markdown":
        return download(transfer.markdown_transcript(document), media_type="text/markdown; charset=utf-8",
                        filename=transfer.export_filename(title, "md"), title=title)
    return download(json.dumps(document, ensure_ascii=False, indent=2), media_type="application/json",
                    filename=transfer.export_filename(title, "json"), title=title)


@router.post("/import", status_code=201, response_model=ConversationOut,
             responses={**ERRORS, 413: {"model": ERRORS[413]["model"],
                                        "description": "The file is larger than IMPORT_MAX_BYTES (10 MB)."}})
async def import_conversation(
    document: Annotated[transfer.ConversationExport, Body(description="A JSON export, as `…/export?format=json` writes it.")],
    user_id: CurrentUser,
    engine: EngineDep,
) -> ConversationOut:
    """A new conversation of yours from a JSON export: new ids, the same
    seqs, token totals recounted, tool calls marked `imported: true`. A
    malformed file is 400 and stores nothing; one over `IMPORT_MAX_BYTES`
    is 413."""
    return ConversationOut.of(await in_thread(transfer.import_conversation, engine, user_id=user_id, document=document))
