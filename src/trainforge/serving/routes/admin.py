"""POST /v1/admin/reload: switch to another package version without a restart."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, HTTPException

from trainforge.serving.deps import Holder
from trainforge.serving.holder import ReloadError
from trainforge.serving.limits import require_api_key
from trainforge.serving.schemas import Error, ReloadRequest, ReloadResponse

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(require_api_key)])


@router.post(
    "/reload",
    responses={
        401: {"model": Error, "description": "Missing or wrong API key."},
        409: {"model": Error, "description": "Package refused; the old one keeps serving."},
    },
)
async def reload(
    holder: Holder, body: Annotated[ReloadRequest | None, Body()] = None
) -> ReloadResponse:
    """Load a package (default: MODEL_DIR again, following `current`), warm it, switch to it.

    Requests keep being answered by the old version meanwhile; requests already running finish
    on it. A package that fails to load or warm up is refused with 409 and the reason.
    With `--workers N`, this reaches one worker only: switch all of them with `current`.
    """
    path = body.path if body is not None else None
    old = holder.current.version if holder.current else None
    try:
        result = await holder.reload(path)
    except ReloadError as exc:
        still = f" Still serving version {old}." if old else ""
        raise HTTPException(409, detail=f"reload refused: {exc.reason}{still}") from None
    return ReloadResponse(
        model_version=result.model_version,
        previous_version=result.previous_version,
        path=result.path,
        changed=result.changed,
    )
