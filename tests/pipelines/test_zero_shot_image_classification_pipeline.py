"""`hfvid-zero-shot-image-classification`: loading an adapter folder by path, sorted JSON outputs, bad inputs."""

import json

import numpy as np
import pytest
import torch
from peft import get_peft_model
from transformers import pipeline

import hfvid  # noqa: F401
from hfvid import BayesianPromptConfig, resolve_ctx_init
from hfvid.data.synthetic_images import render_shape, shape_class_names, tiny_clip

LABELS = shape_class_names(4)


@pytest.fixture(scope="module")
def adapter_dir(tmp_path_factory):
    """A saved adapter whose base CLIP (with its processor) is saved beside it."""
    root = tmp_path_factory.mktemp("bpl")
    clip, processor = tiny_clip()
    clip.save_pretrained(root / "base")
    processor.save_pretrained(root / "base")
    config = resolve_ctx_init(BayesianPromptConfig(num_samples_eval=3), processor.tokenizer)
    peft_model = get_peft_model(clip, config)
    with torch.no_grad():
        peft_model.base_model.model.text_model.embeddings.token_embedding.bpl_mu["default"].normal_()
    peft_model.peft_config["default"].base_model_name_or_path = str(root / "base")
    peft_model.save_pretrained(root / "adapter")
    return root / "adapter"


def images(n):
    rng = np.random.default_rng(0)
    return [render_shape(LABELS[i % 4], 32, rng) for i in range(n)]


def test_pipeline_from_adapter_folder(adapter_dir):
    pipe = pipeline("hfvid-zero-shot-image-classification", model=str(adapter_dir))
    result = pipe(images(1)[0], candidate_labels=LABELS)
    assert [r["label"] for r in result] != [] and sorted(r["label"] for r in result) == sorted(LABELS)
    scores = [r["score"] for r in result]
    assert scores == sorted(scores, reverse=True) and abs(sum(scores) - 1) < 1e-5
    json.dumps(result)
    batch = pipe(images(3), candidate_labels=LABELS, batch_size=2)
    assert len(batch) == 3
    # seeded samples, shared across the batch: batching does not change results (beyond float rounding)
    assert [r["label"] for r in batch[0]] == [r["label"] for r in result]
    assert np.allclose([r["score"] for r in batch[0]], scores, atol=1e-6)
    top = pipe(images(1)[0], candidate_labels=LABELS, top_k=2, deterministic=True)
    assert len(top) == 2 and top[0]["score_std"] == 0.0
    assert pipe(images(1)[0], candidate_labels=LABELS, seed=3) != pipe(images(1)[0], candidate_labels=LABELS, seed=4)


def test_pipeline_bad_inputs(adapter_dir):
    pipe = pipeline("hfvid-zero-shot-image-classification", model=str(adapter_dir))
    image = images(1)[0]
    with pytest.raises(ValueError, match="candidate_labels: got no labels"):
        pipe(image, candidate_labels=[])
    with pytest.raises(ValueError, match="duplicate labels"):
        pipe(image, candidate_labels=["red circle", "red circle"])
    with pytest.raises(ValueError, match="candidate_labels"):
        pipe(image)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        pipe(np.zeros((32, 32, 5), np.uint8), candidate_labels=LABELS)
