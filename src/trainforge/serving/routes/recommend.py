"""GET /v1/recommend?user=..&k=..: the top-k items for one user (recommender packages)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from trainforge.serving.deps import BatcherDep, Holder, Settings
from trainforge.serving.limits import require_api_key
from trainforge.serving.routes.predict import current_model, run_batch
from trainforge.serving.schemas import Error, Recommendation
from trainforge.tasks.recommendation.model import DEFAULT_K, MAX_K

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
    loaded = current_model(holder)
    if loaded.kind != "recommendation":
        raise HTTPException(
            404,
            detail=f"the model being served is a {loaded.kind} model, not a recommender; "
            "use POST /v1/predict",
        )
    inputs = [{"user": user, "k": k}]
    result = await run_batch(
        batcher, inputs, ("row", ("k", "user")), settings, ("query",), "recommendation"
    )
    return Recommendation(**result.outputs[0], model_version=result.version)
