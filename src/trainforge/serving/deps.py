"""What routes receive by injection: the settings, the model holder and the batcher.

They live on `app.state` (set by `create_app` and its lifespan), so a test can build an app
with its own settings, or override any of these with `app.dependency_overrides`. They are
`async def`: FastAPI runs a plain `def` dependency on a worker thread, three thread hops per
request for what is an attribute lookup.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from trainforge.serving.batching import Batcher
from trainforge.serving.holder import ModelHolder
from trainforge.serving.settings import ServeSettings


async def get_settings(request: Request) -> ServeSettings:
    """The service settings."""
    settings: ServeSettings = request.app.state.settings
    return settings


async def get_holder(request: Request) -> ModelHolder:
    """The holder of the model being served."""
    holder: ModelHolder = request.app.state.holder
    return holder


async def get_batcher(request: Request) -> Batcher:
    """The batcher that runs model calls."""
    batcher: Batcher = request.app.state.batcher
    return batcher


Settings = Annotated[ServeSettings, Depends(get_settings)]
Holder = Annotated[ModelHolder, Depends(get_holder)]
BatcherDep = Annotated[Batcher, Depends(get_batcher)]
