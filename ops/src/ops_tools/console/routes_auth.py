"""Login, logout and the page itself."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from ops_tools.console.audit import session_ref
from ops_tools.console.deps import COOKIE, ConsoleDep, CurrentSession, same_origin
from ops_tools.console.models import SessionOut
from ops_tools.console.sessions import token_matches

STATIC = Path(__file__).parent / "static"
MAX_FORM_BYTES = 4096

router = APIRouter()


@router.get("/", include_in_schema=False)
async def index(request: Request, state: ConsoleDep) -> Response:
    if state.sessions.get(request.cookies.get(COOKIE)) is None:
        return RedirectResponse("/login", status_code=303)
    return FileResponse(STATIC / "index.html")


@router.get("/login", include_in_schema=False)
async def login_page() -> Response:
    return FileResponse(STATIC / "login.html")


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/login", include_in_schema=False)
async def login(request: Request, state: ConsoleDep) -> Response:
    """The form's operator label and token; a session cookie when the token is right."""
    if not same_origin(request):
        raise HTTPException(403, "Cross-origin request refused")
    address = _client(request)
    wait = state.throttle.retry_after(address)
    if wait > 0:
        return RedirectResponse(f"/login?error=throttled&wait={int(wait) + 1}", status_code=303)
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(413, "Form too large")
    form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
    token = (form.get("token") or [""])[0]
    operator = ((form.get("operator") or [""])[0].strip() or "operator")[:64]
    if not token_matches(token, state.settings.ops_token.get_secret_value()):
        state.throttle.failed(address)
        state.audit.record(operator=operator, session="-", action="login",
                           target=address, result="refused")
        return RedirectResponse("/login?error=token", status_code=303)
    state.throttle.succeeded(address)
    session = state.sessions.create(operator)
    state.audit.record(operator=operator, session=session_ref(session.id), action="login",
                       target=address, result="ok")
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(COOKIE, session.id, httponly=True, samesite="strict",
                        secure=state.settings.cookie_secure, path="/",
                        max_age=int(state.settings.session_seconds))
    return response


@router.post("/logout", include_in_schema=False)
async def logout(request: Request, state: ConsoleDep) -> Response:
    if not same_origin(request):
        raise HTTPException(403, "Cross-origin request refused")
    session = state.sessions.get(request.cookies.get(COOKIE))
    if session is not None:
        state.sessions.drop(session.id)
        state.audit.record(operator=session.operator, session=session_ref(session.id),
                           action="logout", target="-", result="ok")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/api/session", response_model=SessionOut, tags=["session"])
async def whoami(session: CurrentSession) -> SessionOut:
    """Who is logged in, and the token the page sends with every action."""
    return SessionOut(operator=session.operator, csrf_token=session.csrf)
