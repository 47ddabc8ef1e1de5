"""POST /v1/predict: inputs in, one prediction per input out (through the batcher)."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.exceptions import RequestValidationError

from trainforge.errors import TrainforgeError
from trainforge.serving.batching import Batcher, BatchResult
from trainforge.serving.deps import BatcherDep, Holder, Settings
from trainforge.serving.holder import ModelHolder
from trainforge.serving.limits import require_api_key
from trainforge.serving.loader import InputKind, LoadedModel
from trainforge.serving.schemas import Error, PredictRequest, PredictResponse
from trainforge.serving.settings import ServeSettings

router = APIRouter(prefix="/v1", tags=["predict"], dependencies=[Depends(require_api_key)])

# What each kind of model takes as one input, for the message when an input is of another type.
_ACCEPTS: dict[InputKind, tuple[type, ...]] = {
    "text": (str, dict),
    "token": (str, list),
    "tabular": (dict,),
    "image": (str,),
    "recommendation": (dict,),
}
_SAYS = {
    "text": "a string (or an object with the text column)",
    "token": "a string or a list of words",
    "tabular": "an object with one key per feature column",
    "image": "a base64-encoded image file",
    "recommendation": 'an object such as {"user": "U1077", "k": 10}',
}


@router.post(
    "/predict",
    responses={
        401: {"model": Error, "description": "Missing or wrong API key."},
        413: {"model": Error, "description": "Body larger than --max-body-bytes."},
        422: {"model": Error, "description": "Inputs the model cannot take; `loc` names them."},
        503: {"model": Error, "description": "No model loaded yet."},
        504: {"model": Error, "description": "Not answered within --request-timeout."},
    },
)
async def predict(
    body: PredictRequest, settings: Settings, holder: Holder, batcher: BatcherDep
) -> PredictResponse:
    """Predict the inputs with the model being served.

    Concurrent requests are batched into one model call; each prediction is what
    `trainforge predict` writes for that input.
    """
    loaded = current_model(holder)
    key = check_inputs(body.inputs, loaded.kind, settings)
    inputs = image_bytes(body.inputs) if loaded.kind == "image" else list(body.inputs)
    result = await run_batch(batcher, inputs, key, settings, ("body", "inputs"), "prediction")
    return PredictResponse(predictions=result.outputs, model_version=result.version)


def current_model(holder: ModelHolder) -> LoadedModel:
    """The model being served, or 503 saying why there is none yet."""
    loaded = holder.current
    if loaded is None:
        raise HTTPException(503, detail=f"no model loaded yet{_why(holder.error)}")
    return loaded


async def run_batch(
    batcher: Batcher,
    inputs: list[Any],
    key: Hashable,
    settings: ServeSettings,
    loc: tuple[str, ...],
    what: str,
) -> BatchResult:
    """Queue `inputs` on the batcher: 504 past the request timeout, 422 at `loc` when the model
    refuses an input (the client's to fix)."""
    try:
        return await asyncio.wait_for(batcher.submit(inputs, key), settings.request_timeout_s)
    except TimeoutError:
        raise HTTPException(
            504,
            detail=f"no {what} within {settings.request_timeout_s} s; send fewer inputs, "
            "or start the server with a larger --request-timeout",
        ) from None
    except TrainforgeError as exc:
        raise _invalid(loc, exc.message) from None


def check_inputs(inputs: list[Any], kind: InputKind, settings: ServeSettings) -> Hashable:
    """Check the request against the limits and the model's input kind; return its batch key.

    Requests with equal keys have inputs of the same shape (all texts, or rows with the same
    columns) and may share a model call without changing anyone's predictions.
    """
    if len(inputs) > settings.max_inputs:
        raise _invalid(
            ("body", "inputs"),
            f"{len(inputs)} inputs, more than the {settings.max_inputs} allowed per request; "
            "split them over several requests (or raise --max-inputs)",
        )
    for i, item in enumerate(inputs):
        if not isinstance(item, _ACCEPTS[kind]):
            raise _invalid(
                ("body", "inputs", i),
                f"{kind} models take {_SAYS[kind]} as one input, got {_json_type(item)}",
            )
        length = _text_length(item) if kind != "image" else 0  # the body limit bounds images
        if length > settings.max_text_length:
            raise _invalid(
                ("body", "inputs", i),
                f"{length} characters of text, more than --max-text-length "
                f"{settings.max_text_length}; shorten or split it",
            )
    shapes = {_shape(item) for item in inputs}
    # A request mixing shapes runs alone: a unique key matches no other request.
    return shapes.pop() if len(shapes) == 1 else object()


def image_bytes(inputs: list[Any]) -> list[Any]:
    """The bytes of base64 images; the server never opens a path a client names."""
    from trainforge.data.image_inputs import decode_base64

    images = []
    for i, item in enumerate(inputs):
        try:
            images.append(decode_base64(item, f"inputs[{i}]"))
        except TrainforgeError as exc:
            raise _invalid(("body", "inputs", i), exc.what) from None
    return images


def _shape(item: Any) -> Hashable:
    if isinstance(item, dict):
        return ("row", tuple(sorted(item)))
    return "words" if isinstance(item, list) else "text"


def _text_length(item: Any) -> int:
    if isinstance(item, str):
        return len(item)
    values = item.values() if isinstance(item, dict) else item
    return sum(len(v) for v in values if isinstance(v, str))


def _json_type(item: Any) -> str:
    names: dict[type, str] = {str: "a string", list: "a list", dict: "an object"}
    return names.get(type(item), "a value")


def _invalid(loc: tuple[str | int, ...], message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": loc, "msg": message, "type": "value_error"}])


def _why(error: str | None) -> str:
    return f": {error}" if error else " (loading); retry when GET /v1/ready answers 200"
