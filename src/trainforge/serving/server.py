"""Starting the service: checks that fail fast with a readable error, then uvicorn."""

from __future__ import annotations

import os

from trainforge.serving.settings import ENV_SETTINGS, ServeSettings


def check(settings: ServeSettings) -> None:
    """Refuse to start on a MODEL_DIR that is no package, or a missing API key (exit 2).

    Cheap checks only (no weights are read): the full load happens in the server's lifespan.
    """
    from trainforge.package import read_manifest
    from trainforge.serving.loader import resolve

    package = resolve(settings.model_dir)
    read_manifest(package)
    if settings.onnx:
        from trainforge.models.onnx_network import onnx_file

        onnx_file(package)  # raises, saying how to export, when there is no ONNX model
    settings.api_key()


def run(settings: ServeSettings) -> None:
    """Check the settings, then serve until interrupted (blocks).

    Workers are separate processes: they get the settings through the environment.
    """
    import uvicorn

    check(settings)
    os.environ[ENV_SETTINGS] = settings.to_env()
    uvicorn.run(
        "trainforge.serving.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        access_log=settings.access_log,
    )
