"""Export and import in the web UI: the conversation's menu downloads it
(JSON or Markdown) and the sidebar's Import brings a JSON export in as a
new conversation. Both call the service layer the REST routes call."""

from __future__ import annotations

import json
from typing import Any

import reflex as rx

from chatapp.services import transfer
from chatapp.services.database import in_thread
from chatapp.services.errors import ServiceError
from chatapp.ui.reads import parse_conversation_id
from chatapp.ui.state import AuthState
from chatapp.ui.parts import app_parts

IMPORT_UPLOAD_ID = "import-upload"
FORMATS = {"json": ("json", "application/json"), "markdown": ("md", "text/markdown")}


class TransferState(AuthState):
    @rx.event
    async def export(self, format: str) -> Any:
        from chatapp.ui.thread_state import ThreadState

        thread = await self.get_state(ThreadState)
        conversation_id = parse_conversation_id(thread.current_id)
        if conversation_id is None or format not in FORMATS:
            return None
        user_id, stop = await self._user_or_sign_out()
        if user_id is None:
            return stop
        try:
            document = await in_thread(transfer.export_conversation, app_parts().engine, user_id=user_id,
                                       conversation_id=conversation_id)
        except ServiceError as error:
            return rx.toast.error(error.message)
        extension, mime_type = FORMATS[format]
        text = transfer.markdown_transcript(document) if format == "markdown" else json.dumps(document, ensure_ascii=False, indent=2)
        return rx.download(data=text, filename=transfer.export_filename(document["conversation"]["title"], extension),
                           mime_type=mime_type)

    @rx.event
    async def import_file(self, files: list[rx.UploadFile]) -> Any:
        """The file is read up to IMPORT_MAX_BYTES + 1, so an oversized one
        is refused without holding all of it."""
        user_id, stop = await self._user_or_sign_out()
        if user_id is None:
            return stop
        if not files:
            return None
        limit = app_parts().settings.import_max_bytes
        raw = await files[0].read(limit + 1)
        if len(raw) > limit:
            return rx.toast.error(f"That file is larger than {limit:,} bytes, the import limit.")
        try:
            document = transfer.parse_document(raw)
            created = await in_thread(transfer.import_conversation, app_parts().engine, user_id=user_id, document=document)
        except ServiceError as error:
            return rx.toast.error(error.message)
        return [rx.redirect(f"/chat/{created.id}"), rx.toast.success(f"Imported “{created.title}”.")]
