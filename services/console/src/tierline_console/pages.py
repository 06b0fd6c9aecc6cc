"""The pages still to come, home, and the incident page's placeholder (boards live in ``board``).

Every page reads upstream with the person's key, so a revoked key ends the session.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from tierline_console.web import HOME, ConsoleDep, SessionDep

router = APIRouter(include_in_schema=False)
COMING = {
    "/my-work": "My work",
    "/dashboard": "Dashboard",
    "/admin": "Admin",
}


@router.get("/")
async def home() -> Response:
    return RedirectResponse(HOME, status_code=303)


async def _coming(request: Request, app: ConsoleDep, session: SessionDep) -> Response:
    # still a call with the key, so that a revoked key's session ends here too
    await app.upstreams.get("intake", "/v1/access/me", session.api_key)
    return app.render(request, "coming.html", session=session, title=COMING[request.url.path])


for _path in COMING:
    router.add_api_route(_path, _coming, methods=["GET"])


@router.get("/incidents/{incident_id}")
async def incident_placeholder(
    request: Request, incident_id: uuid.UUID, app: ConsoleDep, session: SessionDep
) -> Response:
    """A placeholder until the incident page lands: the incident's title, read with the person's key."""
    found = await app.upstreams.get("intake", f"/v1/incidents/{incident_id}", session.api_key)
    return app.render(request, "coming.html", session=session, title=str(found.get("title") or "Incident"))
