"""`ImageModel`: a `Model` whose inputs are images (files, folders, tables of paths, base64,
bytes, arrays or PIL images)."""

from __future__ import annotations

from typing import Any

from trainforge.errors import DataError
from trainforge.tasks.model import Model, Rows


class ImageModel(Model):
    """An image classifier; rows are read into `trainforge.data.images.Images`."""

    def frame(self, rows: Rows) -> Any:
        return self.inputs.read(rows)

    def evaluate(self, rows: Rows) -> dict[str, Any]:
        """Metrics on labelled images (class folders, or a table with labels)."""
        images = self.frame(rows)
        if images.labels is None:
            raise DataError(
                "the images carry no labels; evaluation needs labelled images",
                where=images.source,
                fix="Pass a folder with one sub-folder per class or a table with labels, or "
                "use `trainforge predict` for unlabelled images",
            )
        truth = self.target.encode_values(images.labels, lambda i: images.names[i])  # type: ignore[union-attr]
        return self.target.metrics(truth, self.output(images))  # type: ignore[arg-type]
