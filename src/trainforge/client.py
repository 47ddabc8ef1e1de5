"""A small Python client for `trainforge serve` (uses httpx).

Example:
    >>> from trainforge.client import Client
    >>> client = Client("http://127.0.0.1:8000", api_key=None)
    >>> client.predict(["a gripping, funny film"])[0]["label"]
    'positive'
"""

from __future__ import annotations

from typing import Any

import httpx

from trainforge.errors import TrainforgeError


class ClientError(TrainforgeError):
    """The server refused a request (4xx/5xx); `status_code` and `detail` say why."""

    def __init__(self, status_code: int, detail: Any, where: str) -> None:
        self.status_code = status_code
        self.detail = detail
        super().__init__(f"HTTP {status_code}: {_describe(detail)}", where=where)


class Client:
    """Calls a trainforge server: predictions, metadata, health.

    Args:
        url: the server's base URL, e.g. "http://127.0.0.1:8000".
        api_key: sent as `X-API-Key` when the server was started with `--api-key-env`.
        timeout: seconds to wait for each response.

    The client keeps one connection open; use it as a context manager (or call `close`).
    """

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 60.0) -> None:
        headers = {"X-API-Key": api_key} if api_key else {}
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)
        self.last_model_version: str | None = None

    def predict(self, inputs: list[Any]) -> list[dict[str, Any]]:
        """One prediction per input: texts for text models, dicts (one per row) for tabular.

        The version of the model that answered is kept in `last_model_version`.
        """
        body = self._call("POST", "/v1/predict", json={"inputs": list(inputs)})
        self.last_model_version = body["model_version"]
        predictions: list[dict[str, Any]] = body["predictions"]
        return predictions

    def metadata(self) -> dict[str, Any]:
        """Task, labels, input schema, model version and the run's metrics."""
        return self._call("GET", "/v1/metadata")

    def health(self) -> bool:
        """True when the server answers and its model is loaded and warmed up."""
        try:
            return self._http.get("/v1/ready").status_code == 200
        except httpx.TransportError:
            return False

    def reload(self, path: str | None = None) -> dict[str, Any]:
        """Switch the server to another package version (default: follow its `current`)."""
        return self._call("POST", "/v1/admin/reload", json={"path": path} if path else None)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, json: Any = None) -> Any:
        try:
            response = self._http.request(method, path, json=json)
        except httpx.TransportError as exc:
            raise TrainforgeError(
                f"cannot reach the server ({type(exc).__name__}: {exc})",
                where=self.url + path,
                fix="Check the URL, and that `trainforge serve` is running",
            ) from None
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise ClientError(response.status_code, detail, where=f"{method} {self.url}{path}")
        return response.json()


def _describe(detail: Any) -> str:
    """A 422's list of {loc, msg} as 'inputs.0: msg; ...'; anything else as it is."""
    if isinstance(detail, list):
        parts = []
        for error in detail:
            loc = ".".join(str(x) for x in error.get("loc", ()) if x != "body")
            parts.append(f"{loc}: {error.get('msg')}" if loc else str(error.get("msg")))
        return "; ".join(parts)
    return str(detail)
