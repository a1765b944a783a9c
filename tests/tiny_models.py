"""Tiny randomly initialised sentence-transformers models, one per pooling kind, saved as folders.

They load offline in well under a second: tests of model families (pooling, prompts) use them
where the bundled MiniLM cannot stand in (it mean-pools and has no prompts).

Example::

    folder = save_tiny_model(tmp_path / "cls", pooling="cls")
    SentenceTransformerEncoder(folder).encode_query("a question")
"""

from __future__ import annotations

from pathlib import Path

from chunkwise.connectors.offline import DEFAULT_MODEL, resolve_model

HIDDEN = 32


def save_tiny_model(
    folder: Path,
    *,
    pooling: str = "mean",
    decoder: bool = False,
    dense: bool = False,
    prompts: dict[str, str] | None = None,
    default_prompt_name: str | None = None,
    include_prompt: bool = True,
) -> str:
    """Save a one-layer model with MiniLM's tokenizer under ``folder``; its folder.

    ``decoder``: a Qwen2 decoder (causal attention) instead of a BERT encoder; ``dense``: a
    ``Dense`` layer after the pooling; ``prompts``/``default_prompt_name``: as the model's
    ``config_sentence_transformers.json`` declares them; ``include_prompt``: the pooling's.
    """
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense, Normalize, Pooling, Transformer
    from transformers import AutoTokenizer, BertConfig, BertModel, Qwen2Config, Qwen2Model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(DEFAULT_MODEL))
    sizes = {"vocab_size": tokenizer.vocab_size, "hidden_size": HIDDEN, "num_hidden_layers": 1}
    sizes.update(num_attention_heads=2, intermediate_size=2 * HIDDEN, max_position_embeddings=512)
    torch.manual_seed(0)
    model = (
        Qwen2Model(Qwen2Config(**sizes, num_key_value_heads=1)) if decoder else BertModel(BertConfig(**sizes))
    )
    transformer_folder = folder / "transformer"
    model.eval().save_pretrained(transformer_folder)
    tokenizer.save_pretrained(transformer_folder)
    modules = [
        Transformer(str(transformer_folder), max_seq_length=256),
        Pooling(HIDDEN, pooling_mode=pooling, include_prompt=include_prompt),
    ]
    if dense:
        modules.append(Dense(HIDDEN, HIDDEN // 2))
    modules.append(Normalize())
    target = folder / "model"
    SentenceTransformer(modules=modules, prompts=prompts, default_prompt_name=default_prompt_name).save(
        str(target)
    )
    return str(target)


class TinyModels:
    """Tiny models saved under ``root`` on first use, once per name: ``tiny("cls", pooling="cls")``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.folders: dict[str, str] = {}

    def __call__(self, name: str, **options: object) -> str:
        if name not in self.folders:
            self.folders[name] = save_tiny_model(self.root / name, **options)  # type: ignore[arg-type]
        return self.folders[name]


COLBERT_SIZE = 16  # the tiny late-interaction model's token vectors


def save_tiny_colbert(folder: Path, *, layout: str = "sentence-transformers") -> str:
    """Save a one-layer BERT and a linear projection to :data:`COLBERT_SIZE` as a late-interaction
    checkpoint under ``folder``; its folder. The same seed gives the same weights in either layout.

    ``layout="sentence-transformers"``: as PyLate saves ColBERT models (answerai-colbert-small,
    jina-colbert-v2): the transformer at the root, ``modules.json``, a ``1_Dense`` layer, and the
    markers, query length and skip list in ``config_sentence_transformers.json``.
    ``layout="colbert"``: as Stanford's ColBERT saves them (colbertv2.0): ``bert.*`` and
    ``linear.weight`` in one ``model.safetensors``, the markers in ``artifact.metadata``.
    """
    import json
    import string

    import torch
    from safetensors.torch import save_file
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(DEFAULT_MODEL))
    sizes = {"vocab_size": tokenizer.vocab_size, "hidden_size": HIDDEN, "num_hidden_layers": 1}
    sizes.update(num_attention_heads=2, intermediate_size=2 * HIDDEN, max_position_embeddings=512)
    torch.manual_seed(0)
    bert = BertModel(BertConfig(**sizes)).eval()
    linear = torch.nn.Linear(HIDDEN, COLBERT_SIZE, bias=False)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(folder)
    markers = {"query": "[unused0]", "document": "[unused1]"}

    def write(path: Path, data: object) -> None:
        path.write_text(json.dumps(data, indent=2), encoding="utf-8")

    if layout == "colbert":
        bert.config.architectures = ["HF_ColBERT"]
        bert.config.save_pretrained(folder)
        state = {f"bert.{key}": value.contiguous() for key, value in bert.state_dict().items()}
        save_file(
            {**state, "linear.weight": linear.weight.detach().contiguous()}, folder / "model.safetensors"
        )
        metadata = {
            "query_token_id": markers["query"],
            "doc_token_id": markers["document"],
            "dim": COLBERT_SIZE,
        }
        write(folder / "artifact.metadata", {**metadata, "query_maxlen": 32, "mask_punctuation": True})
        return str(folder)
    bert.save_pretrained(folder)
    dense = folder / "1_Dense"
    dense.mkdir()
    write(
        dense / "config.json",
        {
            "in_features": HIDDEN,
            "out_features": COLBERT_SIZE,
            "bias": False,
            "activation_function": "torch.nn.modules.linear.Identity",
        },
    )
    save_file({"linear.weight": linear.weight.detach().contiguous()}, dense / "model.safetensors")
    write(
        folder / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Dense", "type": "pylate.models.Dense.Dense"},
        ],
    )
    write(
        folder / "config_sentence_transformers.json",
        {
            "query_prefix": f"{markers['query']} ",
            "document_prefix": f"{markers['document']} ",
            "query_length": 32,
            "do_query_expansion": True,
            "attend_to_expansion_tokens": False,
            "skiplist_words": list(string.punctuation),
        },
    )
    return str(folder)
