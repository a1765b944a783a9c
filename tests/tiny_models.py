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
