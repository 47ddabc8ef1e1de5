"""One router per resource: `predict`, `status` (health, ready, metadata, metrics), `admin`."""
