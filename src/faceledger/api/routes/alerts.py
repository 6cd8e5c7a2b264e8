"""Watches and alerts over HTTP: operators list and withdraw watches and read alerts
(auditors read both); a data subject registers a watch on themselves with a one-time
``watch`` token and their selfie (``POST /api/rights/watch``), and withdraws it with the
credential they were given (``POST /api/watches/withdraw``, no account needed)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from ... import ActionContext
from ...errors import AuthError, RateLimitedError
from ...subjects.watches import add_self_watch, withdraw_with_credential
from ..auth import client_of
from ..deps import ctx_of, form_values, principal_of, read_photos, to_jsonable
from ..keys import RightsKind
from ..subject_tokens import redeem_subject_token
from ..uploads import multipart_openapi

router = APIRouter(tags=["alerts"])


class SelfWatchForm(BaseModel):
    webhook_url: str = Field(max_length=4096)
    days: int = Field(30, ge=1, le=36500)


class WithdrawIn(BaseModel):
    credential: str = Field(max_length=200)


@router.get("/api/watches")
async def list_watches(request: Request) -> dict:
    rows = await run_in_threadpool(ctx_of(request).store.watches)
    return {"watches": [to_jsonable(r) for r in rows]}


@router.delete("/api/watches/{watch_id}")
async def withdraw(request: Request, watch_id: int, purpose: str = "", case: str = "") -> dict:
    """End a watch: its template, webhook secret and alerts are deleted."""
    ctx, principal = ctx_of(request), principal_of(request)
    context = ActionContext(principal.actor, purpose[:1000] or "watch withdrawn",
                            case[:1000] or None)
    gone = await run_in_threadpool(ctx.store.withdraw_watch, watch_id, context)
    return {"withdrawn": gone}


@router.get("/api/alerts")
async def list_alerts(request: Request, limit: int = 200) -> dict:
    rows = await run_in_threadpool(ctx_of(request).store.alerts, max(1, min(limit, 1000)))
    return {"alerts": [to_jsonable(r) for r in rows]}


@router.post("/api/rights/watch", status_code=201, openapi_extra=multipart_openapi(
    {"selfie": "a photo of your face"},
    {"webhook_url": {"type": "string"}, "days": {"type": "integer", "default": 30}},
    required=("webhook_url",)))
async def self_watch(request: Request) -> dict:
    """Tell me when a new photo of me is ingested. The selfie must match the token's
    reference photo 1:1 first; the response holds the webhook secret and the withdrawal
    credential, once."""
    ctx, principal = ctx_of(request), principal_of(request)
    form = await read_photos(request, {"selfie": "selfie"}, set(SelfWatchForm.model_fields))
    values = form_values(SelfWatchForm, form.fields)
    selfie = form.file("selfie", "selfie")
    # the URL and the duration are checked before the token's attempt is spent on them
    from ...subjects.webhooks import check_webhook_url

    check_webhook_url(values.webhook_url, ctx.store.settings)
    context = ActionContext(principal.actor, "data-subject watch on themselves (self-service)",
                            f"subject-token:{principal.key_id}")
    token, check = await run_in_threadpool(
        redeem_subject_token, ctx.store, ctx.keys.tokens, principal.credential,
        RightsKind.WATCH, selfie, context)
    new = await run_in_threadpool(add_self_watch, ctx.store, check, token.subject,
                                  values.webhook_url, values.days, context)
    return {"watch": to_jsonable(new.watch), "webhook_secret": new.webhook_secret,
            "withdraw_credential": new.withdraw_credential}


@router.post("/api/watches/withdraw")
async def withdraw_own(request: Request, body: WithdrawIn) -> dict:
    """A data subject ends their own watch with its withdrawal credential (``flw_...``)."""
    ctx = ctx_of(request)
    client = client_of(request)
    wait = ctx.limiter.retry_after(client)
    if wait:
        raise RateLimitedError(f"too many refused credentials from {client}; try again in "
                               f"{wait} s", wait)
    context = ActionContext("data-subject", "watch withdrawn by the data subject", None)
    try:
        wid = await run_in_threadpool(withdraw_with_credential, ctx.store, body.credential,
                                      context)
    except AuthError as exc:
        ctx.limiter.refused(client)
        ctx.audit_refusal(None, "POST", "/api/watches/withdraw", exc.code, client)
        raise
    return {"withdrawn": [wid]}


# -- the web page ---------------------------------------------------------------------------

@router.get("/alerts", include_in_schema=False)
def alerts_page(request: Request):
    from ..keys import Role
    from ..web_pages import _page

    store = ctx_of(request).store
    role = principal_of(request).role
    return _page(request, "alerts.html", watches=store.watches(), alerts=store.alerts(),
                 can_change=role in (Role.ADMIN, Role.OPERATOR))
