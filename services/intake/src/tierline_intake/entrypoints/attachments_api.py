"""The attachments of mails on an incident: listed, and downloaded when their content was stored."""

from __future__ import annotations

import re
import uuid
from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel

from tierline_intake.adapters.mail_repository import MailRepository
from tierline_intake.entrypoints.common import PROBLEMS, deps
from tierline_shared.api import Reader, RuntimeDep
from tierline_shared.errors import NotFound

router = APIRouter(prefix="/v1/incidents", tags=["incidents"])

# a media type as RFC 6838 names them; anything else is served as bytes
MEDIA_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$")


class AttachmentOut(BaseModel):
    id: uuid.UUID
    message_id: str
    filename: str
    content_type: str
    size: int
    sha256: str
    stored: bool  # false: listed only (refused says why)
    refused: str | None


@router.get(
    "/{incident_id}/attachments",
    response_model=list[AttachmentOut],
    responses=PROBLEMS,
    summary="The attachments of mails on the incident",
)
async def list_attachments(incident_id: uuid.UUID, rt: RuntimeDep, principal: Reader) -> list[AttachmentOut]:
    async with rt.sessions() as session:
        await deps(rt).unit_of_work(session).incidents.load(incident_id)  # 404 for no such incident
        rows = await MailRepository(session).attachments_of(incident_id)
    return [AttachmentOut.model_validate(row, from_attributes=True) for row in rows]


@router.get(
    "/{incident_id}/attachments/{attachment_id}",
    response_class=Response,
    responses={
        200: {"description": "The attachment's content", "content": {"application/octet-stream": {}}},
        **PROBLEMS,
    },
    summary="Download an attachment (only those whose content was stored)",
)
async def download_attachment(
    incident_id: uuid.UUID, attachment_id: uuid.UUID, rt: RuntimeDep, principal: Reader
) -> Response:
    async with rt.sessions() as session:
        row = await MailRepository(session).attachment(incident_id, attachment_id)
    if row is None:
        raise NotFound(f"Incident {incident_id} has no attachment {attachment_id}.", name=str(attachment_id))
    if not row.stored or row.data is None:
        raise NotFound(
            f"The content of attachment {attachment_id} was not stored: {row.refused or 'refused'}.",
            name=str(attachment_id),
        )
    media_type = row.content_type if MEDIA_TYPE.match(row.content_type) else "application/octet-stream"
    return Response(
        content=row.data,
        media_type=media_type,
        headers={
            "Content-Disposition": content_disposition(row.filename),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
        },
    )


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback name and the exact one as RFC 6266 / 8187 ``filename*``."""
    fallback = (
        "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\%;' else "_" for c in filename) or "attachment"
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
