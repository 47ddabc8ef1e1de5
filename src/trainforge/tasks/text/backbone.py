"""The text families' backbone, fitted to the training text: chosen by its script when the
config names none, refused when its tokenizer cannot read the text, trimmed on request.

Shared by text classification, token classification and text regression, so that a Chinese
data set gets the same backbone and the same checks whichever of them reads it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from trainforge.config import ExperimentConfig
from trainforge.data.language import SCRIPT_SAMPLE, Scripts, count_scripts
from trainforge.errors import ConfigError
from trainforge.messages import text
from trainforge.models.vocabulary import Encode

log = logging.getLogger("trainforge")
AUTO = "auto"


def choose_backbone(
    cfg: ExperimentConfig, texts: Iterable[str]
) -> tuple[ExperimentConfig, Scripts]:
    """(the config, the scripts of the training text); `model.backbone: auto` becomes the
    embedded backbone that covers them (English MiniLM for Latin script,
    multilingual-e5-small otherwise)."""
    from trainforge.models.multilingual import MULTILINGUAL_E5
    from trainforge.models.transformer import MINILM

    scripts = count_scripts(texts)
    if cfg.model.backbone != AUTO:
        return cfg, scripts
    chosen = MINILM if scripts.latin else MULTILINGUAL_E5
    if not scripts.latin:
        log.warning(text("backbone.chosen", scripts=scripts.describe(), backbone=chosen))
    model = cfg.model.model_copy(update={"backbone": chosen})
    return cfg.model_copy(update={"model": model}), scripts


def load_backbone(
    cfg: ExperimentConfig, scripts: Scripts, encode: Encode, source: str
) -> tuple[str, Any, dict[str, Any]]:
    """(folder, tokenizer, manifest entries) of the config's backbone for this text.

    Args:
        scripts: the training text's scripts (from `choose_backbone`).
        encode: (tokenizer, at most N texts) -> token ids of the training text, as the task
            cuts it.
        source: the training data, for messages.
    """
    from trainforge.models.transformer import load_tokenizer, resolve_backbone
    from trainforge.models.vocabulary import trim_backbone, unknown_share

    start = trimmed_start(cfg)
    folder = str(start[0]) if start is not None else resolve_backbone(cfg.model.backbone)
    tokenizer = load_tokenizer(folder)
    share = unknown_share(tokenizer, encode(tokenizer, SCRIPT_SAMPLE))
    if share > cfg.model.max_unknown_share:
        raise ConfigError(
            text(
                "backbone.unknown",
                backbone=cfg.model.backbone,
                share=share,
                unk=tokenizer.unk_token,
                scripts=scripts.describe(),
            ),
            where=f"model.backbone (data: {source})",
            fix=_backbone_fix(cfg.model.backbone),
        )
    info: dict[str, Any] = {
        "text_scripts": scripts.describe(),
        "unknown_token_share": round(share, 5),
    }
    from trainforge.models.multilingual import MULTILINGUAL_E5, ROUNDING_NOTE

    if cfg.model.backbone == MULTILINGUAL_E5:
        info["backbone_note"] = ROUNDING_NOTE
    if start is not None:  # an update keeps the package's vocabulary, row for row
        info["vocabulary"] = start[1]
    elif cfg.model.trim_vocab:
        folder, info["vocabulary"] = trim_backbone(
            folder, tokenizer, encode, cfg.model.trim_reserve, scripts
        )
        tokenizer = load_tokenizer(folder)
    return folder, tokenizer, info


def trimmed_start(cfg: ExperimentConfig) -> tuple[Path, dict[str, Any]] | None:
    """(weights and tokenizer folder, vocabulary facts) of the `model.init_from` package when
    its vocabulary was trimmed; None otherwise.

    An update of a trimmed model must read text with the package's own tokenizer: trimming
    again on the new data would renumber the pieces under the trained embedding rows."""
    if cfg.model.init_from is None:
        return None
    import json

    from trainforge.models.text_package import package_source
    from trainforge.versions import resolve

    package = resolve(cfg.model.init_from)
    manifest_file = package / "trainforge.json"
    if not manifest_file.is_file():
        return None
    vocabulary = json.loads(manifest_file.read_text(encoding="utf-8")).get("vocabulary")
    if not isinstance(vocabulary, dict):
        return None
    return package_source(package), vocabulary


def _backbone_fix(backbone: str) -> str:
    from trainforge.models.multilingual import MULTILINGUAL_E5

    if backbone != MULTILINGUAL_E5:
        return text("backbone.unknown_fix_multilingual", suggested=MULTILINGUAL_E5)
    return text("backbone.unknown_fix_other")
