"""`TextModel`: a `Model` whose rows are texts (or text pairs) in a table, a .txt file (one
text per line) or a list of strings."""

from __future__ import annotations

from typing import Any

from trainforge.tasks.model import Model, Rows, as_frame


class TextModel(Model):
    """A text classifier or regressor; strings become the config's text column."""

    def frame(self, rows: Rows) -> Any:
        data = self.config.data
        return as_frame(rows, data.encoding, data.text_column)

    @property
    def input_columns(self) -> list[str]:
        data = self.config.data
        return [c for c in (data.text_column, data.text_pair_column) if c]
