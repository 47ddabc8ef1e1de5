"""English messages (the default catalogue)."""

from __future__ import annotations

MESSAGES: dict[str, str] = {
    # command line
    "cli.error": "Error: {message}",
    "cli.interrupted": "Interrupted. An unfinished run can be continued with --resume.",
    "cli.model": "Model:   {path}",
    "cli.report": "Report:  {path}",
    "cli.metrics": "Metrics",
    "cli.metric": "metric",
    # choosing and checking the backbone
    "backbone.chosen": "The training text is {scripts}: backbone {backbone} (set "
    "model.backbone to choose another).",
    "backbone.unknown": "backbone {backbone!r} reads {share:.1%} of the training text's tokens "
    "as unknown ({unk}); the text is {scripts}, and a model cannot learn from tokens it cannot "
    "tell apart",
    "backbone.unknown_fix_multilingual": "Use model.backbone: {suggested} (embedded; Chinese "
    "and about 100 other languages), or keep this one with model.max_unknown_share: 1",
    "backbone.unknown_fix_other": "Use a backbone whose vocabulary covers this text, or keep "
    "this one with model.max_unknown_share: 1",
    # scripts of the training text
    "script.share": "{name}, {share:.0%} of letters",
    "script.none": "no letters",
    "script.Han": "Han script (Chinese)",
    "script.Kana": "Kana script (Japanese)",
    "script.Hangul": "Hangul script (Korean)",
    "script.Latin": "Latin script",
    "script.Cyrillic": "Cyrillic script",
    "script.Arabic": "Arabic script",
    "script.other": "{script} script",
    # report
    "report.subtitle": "{kind} report, generated {stamp}",
    "report.summary": "Summary",
    "report.item": "item",
    "report.value": "value",
    "report.metrics": "Metrics",
    "report.metric": "metric",
    "report.entity_scores": "Entity-level scores per type ({split})",
    "report.entity_note": "Exact match of boundaries and type, as conlleval and seqeval count "
    "them.",
    "report.per_class": "Per-class scores ({split})",
    "report.curves": "Learning curves",
    "report.curves_caption": "Losses and validation metrics",
    "report.type_confusion": "Confusion of entity types",
    "report.confusion_roc": "Confusion matrices and ROC curves",
    "report.predictions": "Predictions",
    "report.config": "Resolved config",
}
