"""简体中文消息（与 en.py 的键一一对应）。"""

from __future__ import annotations

MESSAGES: dict[str, str] = {
    # 命令行
    "cli.error": "错误：{message}",
    "cli.interrupted": "已中断。未完成的训练可以用 --resume 继续。",
    "cli.model": "模型：  {path}",
    "cli.report": "报告：  {path}",
    "cli.metrics": "评估指标",
    "cli.metric": "指标",
    # 选择与检查骨干模型
    "backbone.chosen": "训练文本为{scripts}：使用骨干模型 {backbone}（如需其他模型，请设置 "
    "model.backbone）。",
    "backbone.unknown": "骨干模型 {backbone!r} 把训练文本中 {share:.1%} 的词元读成未知词元"
    "（{unk}）；文本为{scripts}，模型无法从分辨不出的词元中学习",
    "backbone.unknown_fix_multilingual": "请设置 model.backbone: {suggested}（内置，支持中文及约 "
    "100 种其他语言），或设置 model.max_unknown_share: 1 以保留当前骨干模型",
    "backbone.unknown_fix_other": "请换用词表覆盖该文本的骨干模型，或设置 "
    "model.max_unknown_share: 1 以保留当前骨干模型",
    # 训练文本的文字
    "script.share": "{name}，占字母的 {share:.0%}",
    "script.none": "无字母",
    "script.Han": "汉字（中文）",
    "script.Kana": "假名（日文）",
    "script.Hangul": "谚文（韩文）",
    "script.Latin": "拉丁字母",
    "script.Cyrillic": "西里尔字母",
    "script.Arabic": "阿拉伯字母",
    "script.other": "{script} 文字",
    # 报告
    "report.subtitle": "{kind} 报告，生成于 {stamp}",
    "report.summary": "概要",
    "report.item": "项目",
    "report.value": "值",
    "report.metrics": "评估指标",
    "report.metric": "指标",
    "report.entity_scores": "各实体类型的实体级得分（{split}）",
    "report.entity_note": "边界与类型须完全一致，与 conlleval 和 seqeval 的计分方式相同。",
    "report.per_class": "各类别得分（{split}）",
    "report.curves": "学习曲线",
    "report.curves_caption": "损失与验证集指标",
    "report.type_confusion": "实体类型混淆",
    "report.confusion_roc": "混淆矩阵与 ROC 曲线",
    "report.predictions": "预测结果",
    "report.config": "最终配置",
}
