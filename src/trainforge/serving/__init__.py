"""The HTTP service: `trainforge serve MODEL_DIR` (FastAPI + uvicorn).

Modules, each with one job:
    settings.py   `ServeSettings`: every option of `serve`, validated once, injected into the app
    loader.py     resolving MODEL_DIR (a package, or versions with a `current` pointer), loading
                  and warming a package, its version id and input schema
    holder.py     `ModelHolder`: the live model, atomic hot-swap, reload, the `current` watcher
    batching.py   `Batcher`: gathers concurrent requests into one model call in a worker thread
    metrics.py    Prometheus metrics and the middleware that counts requests
    limits.py     body-size limit (413) and API-key check (401)
    schemas.py    request and response models (bad input is a 422 naming the field)
    deps.py       what routes get injected: settings, holder, batcher (from `app.state`)
    routes/       one router per resource: predict, status (health/ready/metadata), admin
    app.py        `create_app(settings)`: lifespan, middleware, error handlers
    server.py     `run(settings)`: starts uvicorn

Nothing here is imported by `trainforge --help`; fastapi and torch load only when serving.
"""
