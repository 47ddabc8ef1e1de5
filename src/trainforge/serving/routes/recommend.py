"""GET /v1/recommend?user=..&k=..: the top-k items for one user (recommender packages)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.exceptions import RequestValidationError

from trainforge.errors import TrainforgeError
from trainforge.recommend import DEFAULT_K, MAX_K
from trainforge.serving.deps import BatcherDep, Holder, Settings
from trainforge.serving.limits import require_api_key
from trainforge.serving.schemas import Error, Recommendation

router = APIRouter(prefix="/v1", tags=["recommend"], dependencies=[Depends(require_api_key)])


@router.get(
    "/recommend",
    responses={
        401: {"model": Error, "description": "Missing or wrong API key."},
        404: {"model": Error, "description": "The model being served is not a recommender."},
        422: {"model": Error, "description": "A missing user or a k outside 1..1000."},
        503: {"model": Error, "description": "No model loaded yet."},
        504: {"model": Error, "description": "Not answered within --request-timeout."},
    },
)
async def recommend(
    user: Annotated[str, Query(min_length=1, max_length=256, description="A user id.")],
    settings: Settings,
    holder: Holder,
    batcher: BatcherDep,
    k: Annotated[int, Query(ge=1, le=MAX_K, description="How many items.")] = DEFAULT_K,
) -> Recommendation:
    """The user's top-k items they have not interacted with yet, best first.

    A user unknown to the model gets the most popular items, with `"fallback": "popularity"`.
    """
    loaded = holder.current
    if loaded is None:
        raise HTTPException(503, detail="no model loaded yet; retry when GET /v1/ready answers 200")
    if loaded.kind != "recommendation":
        raise HTTPException(
            404,
            detail=f"the model being served is a {loaded.kind} model, not a recommender; "
            "use POST /v1/predict",
        )
    inputs = [{"user": user, "k": k}]
    try:
        result = await asyncio.wait_for(
            batcher.submit(inputs, ("row", ("k", "user"))), settings.request_timeout_s
        )
    except TimeoutError:
        raise HTTPException(
            504, detail=f"no recommendation within {settings.request_timeout_s} s"
        ) from None
    except TrainforgeError as exc:
        raise RequestValidationError(
            [{"loc": ("query",), "msg": exc.message, "type": "value_error"}]
        ) from None
    return Recommendation(**result.outputs[0], model_version=result.version)
