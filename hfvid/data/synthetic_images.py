"""Seeded synthetic image classification data (coloured shapes on noise) and a tiny random CLIP that reads it.

Class ``"red circle"`` is a red disc on a noisy background; position, size and a little colour jitter vary per
image, so classes are separable by colour and shape. :func:`tiny_clip` builds a randomly initialised
``transformers.CLIPModel`` with a word-level ``CLIPTokenizer`` made in memory from the colour/shape vocabulary, so
CLIP-based methods (prompt learning, retrieval) can be trained and tested offline in seconds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

COLOURS = {
    "red": (220, 40, 40), "green": (40, 180, 60), "blue": (50, 80, 220), "yellow": (230, 210, 40),
    "purple": (140, 50, 170), "orange": (240, 140, 30), "cyan": (40, 200, 210), "pink": (240, 120, 180),
}
SHAPES = ("circle", "square", "triangle", "cross")
PROMPT_WORDS = ("a", "photo", "of", "an", "image", "the", "x")


def shape_class_names(num_classes: int = 8) -> list[str]:
    """``num_classes`` distinct ``"<colour> <shape>"`` names (colour i with shape i mod 4, then further pairs)."""
    colours = list(COLOURS)
    pairs = [(c, SHAPES[i % len(SHAPES)]) for i, c in enumerate(colours)]
    pairs += [(c, s) for c in colours for s in SHAPES if (c, s) not in pairs]
    if not 1 <= num_classes <= len(pairs):
        raise ValueError(f"num_classes must be in [1, {len(pairs)}], got {num_classes}")
    return [f"{c} {s}" for c, s in pairs[:num_classes]]


def _shape_mask(shape: str, size: int, cx: float, cy: float, radius: float) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size] + 0.5
    dx, dy = x - cx, y - cy
    if shape == "circle":
        return dx**2 + dy**2 <= radius**2
    if shape == "square":
        return (np.abs(dx) <= radius * 0.85) & (np.abs(dy) <= radius * 0.85)
    if shape == "triangle":
        return (dy <= radius * 0.8) & (dy >= -radius) & (np.abs(dx) <= (dy + radius) * 0.6)
    if shape == "cross":
        arm = radius * 0.35
        return ((np.abs(dx) <= arm) & (np.abs(dy) <= radius)) | ((np.abs(dy) <= arm) & (np.abs(dx) <= radius))
    raise ValueError(f"shape must be one of {SHAPES}, got {shape!r}")


def render_shape(class_name: str, image_size: int = 32, rng: np.random.Generator | None = None) -> np.ndarray:
    """One (H, W, 3) uint8 image of class ``"<colour> <shape>"`` on uniform noise."""
    rng = rng or np.random.default_rng(0)
    colour, _, shape = class_name.partition(" ")
    if colour not in COLOURS:
        raise ValueError(f"class names are '<colour> <shape>' with colour in {tuple(COLOURS)}, got {class_name!r}")
    image = rng.uniform(60, 190, size=(image_size, image_size, 3))
    radius = image_size * rng.uniform(0.22, 0.32)
    cx, cy = rng.uniform(radius, image_size - radius, size=2)
    mask = _shape_mask(shape, image_size, cx, cy, radius)
    image[mask] = np.clip(np.array(COLOURS[colour]) + rng.normal(0, 12, size=3), 0, 255)
    return image.round().astype(np.uint8)


def synthetic_shape_images(class_names: Sequence[str], samples_per_class: int, image_size: int = 32, seed: int = 0):
    """A ``datasets.Dataset`` with ``image`` (PIL) and ``label`` (``ClassLabel`` named by ``class_names``)."""
    import datasets
    from PIL import Image

    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label, name in enumerate(class_names):
        for _ in range(samples_per_class):
            images.append(Image.fromarray(render_shape(name, image_size, rng)))
            labels.append(label)
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=list(class_names))})
    return datasets.Dataset.from_dict({"image": images, "label": labels}, features=features)


def _apply_merges(symbols: list[str], merges: list[tuple[str, str]]) -> list[str]:
    """Byte-pair encoding of one word: repeatedly merge the adjacent pair with the lowest merge rank."""
    ranks = {pair: rank for rank, pair in enumerate(merges)}
    while len(symbols) > 1:
        pairs = [(ranks.get(pair, len(ranks)), i) for i, pair in enumerate(zip(symbols, symbols[1:]))]
        rank, i = min(pairs)
        if rank == len(ranks):
            break
        symbols = [*symbols[:i], symbols[i] + symbols[i + 1], *symbols[i + 2:]]
    return symbols


def word_level_clip_tokenizer(words: Sequence[str], model_max_length: int = 16):
    """A ``CLIPTokenizer`` built in memory whose vocabulary holds every word of ``words`` as one token.

    Vocabulary: the two specials, the single characters (plain and end-of-word ``</w>``), and the BPE merges that
    join each word left to right. ``ValueError`` if some word does not come out as one token.
    """
    from transformers import CLIPTokenizer

    words = sorted({w.lower() for w in words} | {"."})
    chars = sorted({c for w in words for c in w})
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for token in chars + [c + "</w>" for c in chars]:
        vocab.setdefault(token, len(vocab))
    merges: list[tuple[str, str]] = []
    for word in words:  # apply the merges so far (as BPE would), then add merges that finish the word
        symbols = _apply_merges(list(word[:-1]) + [word[-1] + "</w>"], merges)
        while len(symbols) > 1:
            merges.append((symbols[0], symbols[1]))
            vocab.setdefault(symbols[0] + symbols[1], len(vocab))
            symbols = [symbols[0] + symbols[1], *symbols[2:]]
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=model_max_length)
    for word in words:
        ids = tokenizer(word, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise ValueError(f"the word {word!r} does not tokenise to one token ({ids}); change the vocabulary")
    return tokenizer


def tiny_clip(
    class_words: Sequence[str] | None = None,
    image_size: int = 32,
    hidden_size: int = 32,
    projection_dim: int = 16,
    num_layers: int = 2,
    seed: int = 0,
):
    """A randomly initialised tiny ``CLIPModel`` and its ``CLIPProcessor`` (word-level tokenizer), fully offline.

    ``class_words`` default to every colour and shape word; prompt words ("a photo of ...") are always included.
    """
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    words = list(class_words or [*COLOURS, *SHAPES]) + list(PROMPT_WORDS)
    tokenizer = word_level_clip_tokenizer(words)
    common = dict(hidden_size=hidden_size, intermediate_size=2 * hidden_size, num_hidden_layers=num_layers,
                  num_attention_heads=4)
    text_config = dict(vocab_size=len(tokenizer), max_position_embeddings=tokenizer.model_max_length,
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                       pad_token_id=tokenizer.pad_token_id, **common)
    vision_config = dict(image_size=image_size, patch_size=8, **common)
    config = CLIPConfig(text_config=text_config, vision_config=vision_config, projection_dim=projection_dim)
    torch.manual_seed(seed)
    model = CLIPModel(config).eval()
    image_processor = CLIPImageProcessor(size={"shortest_edge": image_size},
                                         crop_size={"height": image_size, "width": image_size})
    return model, CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)


__all__ = [
    "COLOURS",
    "PROMPT_WORDS",
    "SHAPES",
    "render_shape",
    "shape_class_names",
    "synthetic_shape_images",
    "tiny_clip",
    "word_level_clip_tokenizer",
]
