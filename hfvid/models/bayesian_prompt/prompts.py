"""Class prompts for BPL: ``"<context words> <class name>."`` with the context at fixed positions."""

import torch

from .config import BayesianPromptConfig


def check_class_names(class_names) -> list[str]:
    """Class names as a list of non-empty, distinct strings (underscores read as spaces); else ``ValueError``."""
    if isinstance(class_names, str) or not hasattr(class_names, "__iter__"):
        raise ValueError(f"candidate labels must be a list of class names, got {class_names!r}")
    names = [str(name).replace("_", " ").strip() for name in class_names]
    if not names:
        raise ValueError("candidate labels must not be empty")
    if any(not name for name in names):
        raise ValueError(f"candidate labels must be non-empty strings, got {list(class_names)!r}")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"candidate labels must be distinct, got duplicates {duplicates}")
    return names


def context_token_ids(tokenizer, config: BayesianPromptConfig) -> list[int]:
    """Token ids of the context words; ``ValueError`` unless there are exactly ``n_ctx`` of them."""
    ids = tokenizer(config.context_text, add_special_tokens=False)["input_ids"]
    if len(ids) != config.n_ctx:
        raise ValueError(
            f"the context text {config.context_text!r} is {len(ids)} tokens for this tokenizer, but n_ctx="
            f"{config.n_ctx}: choose ctx_init with exactly n_ctx tokens"
        )
    return list(ids)


def resolve_ctx_init(config: BayesianPromptConfig, tokenizer) -> BayesianPromptConfig:
    """Set ``config.ctx_init_token_ids`` from ``ctx_init`` (so the context starts as those word embeddings)."""
    config.ctx_init_token_ids = context_token_ids(tokenizer, config) if config.ctx_init else None
    return config


def build_class_prompts(tokenizer, class_names, config: BayesianPromptConfig, return_tensors: str = "pt"):
    """Tokenise ``"<context> <name>."`` for every class, padded to the longest prompt.

    Checks that the context occupies exactly positions ``ctx_start .. ctx_start + n_ctx`` of every row and that
    no prompt was truncated (its end-of-text token is present). Returns ``input_ids`` and ``attention_mask``.
    """
    names = check_class_names(class_names)
    ctx_ids = context_token_ids(tokenizer, config)
    texts = [f"{config.context_text} {name}." for name in names]
    encoded = tokenizer(texts, padding=True, truncation=True, return_tensors=return_tensors)
    ids = encoded["input_ids"]
    start = config.ctx_start
    expected = torch.tensor(ctx_ids)
    if ids.shape[1] < start + config.n_ctx or not (ids[:, start:start + config.n_ctx] == expected).all():
        raise ValueError(
            f"the context tokens are not at positions {start}..{start + config.n_ctx - 1} of the prompts; "
            "check ctx_start against the tokenizer's BOS handling"
        )
    eos = tokenizer.eos_token_id
    if eos is not None and not (ids == eos).any(1).all():
        too_long = [name for name, row in zip(names, ids) if not (row == eos).any()]
        raise ValueError(f"prompts were truncated (too long for the text encoder): {too_long}")
    return encoded


__all__ = ["build_class_prompts", "check_class_names", "context_token_ids", "resolve_ctx_init"]
