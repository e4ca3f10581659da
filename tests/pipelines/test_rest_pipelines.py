"""REST pipelines from a saved folder: captions, sorted zero-shot labels with the caption, batching, bad input."""

import numpy as np
import pytest
import torch
from transformers import pipeline

from hfvid.data.synthetic_video import shapes_in_motion
from hfvid.models.rest import RESTForZeroShotVideoClassification


@pytest.fixture
def saved_model(tiny_rest, tmp_path):
    config, processor = tiny_rest
    torch.manual_seed(0)
    RESTForZeroShotVideoClassification(config).save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    return str(tmp_path)


@pytest.fixture
def tiny_rest():
    from hfvid.data.rest_videos import tiny_synthetic_components

    return tiny_synthetic_components(num_frames=2, image_size=16, hidden_size=32, layers=1)


def test_captioning_and_zero_shot_pipelines(saved_model, tmp_path):
    videos = [v["frames"] for v in shapes_in_motion(3, image_size=16, seed=3)]
    captioner = pipeline("hfvid-video-captioning", model=saved_model)
    one = captioner(videos[0], max_new_tokens=4)
    assert isinstance(one, list) and isinstance(one[0]["generated_text"], str)
    batched = captioner(videos, batch_size=2, max_new_tokens=4)
    assert [b[0] for b in batched][0] == one[0]

    from hfvid.data.video import write_video

    path = str(write_video(tmp_path / "v.mp4", videos[0], fps=4))
    classifier = pipeline("hfvid-zero-shot-video-classification", model=saved_model)
    labels = ["red square moves left", "blue square moves up", "green square moves down"]
    for scoring in ("likelihood", "text_similarity", "combined"):
        out = classifier(path, candidate_labels=labels, hypothesis_template="a {}", scoring=scoring, num_captions=2)
        assert sorted(r["label"] for r in out) == sorted(labels)
        assert [r["score"] for r in out] == sorted((r["score"] for r in out), reverse=True)
        assert abs(sum(r["score"] for r in out) - 1) < 1e-5 and isinstance(out[0]["caption"], str)
    single = [classifier(v, candidate_labels=labels, scoring="likelihood") for v in videos]
    batch = classifier(videos, candidate_labels=labels, scoring="likelihood", batch_size=2)
    for a, b in zip(single, batch):
        assert [r["label"] for r in a] == [r["label"] for r in b]
        np.testing.assert_allclose([r["score"] for r in a], [r["score"] for r in b], atol=1e-5)
    raw = classifier(videos[0], candidate_labels=labels, scoring="likelihood", function_to_apply="none",
                     return_caption=False)  # evaluation mode: raw mean token log-probs, no caption generated
    assert [r["label"] for r in raw] == [r["label"] for r in single[0]] and "caption" not in raw[0]
    assert all(r["score"] < 0 for r in raw)
    np.testing.assert_allclose(torch.tensor([r["score"] for r in raw]).softmax(0).numpy(),
                               [r["score"] for r in single[0]], atol=1e-5)
    with pytest.raises(ValueError, match="function_to_apply"):
        classifier(videos[0], candidate_labels=labels, function_to_apply="sigmoid")
    with pytest.raises(ValueError, match="candidate_labels"):
        classifier(videos[0], candidate_labels=[])
    with pytest.raises(ValueError, match="no frames"):
        captioner(np.zeros((0, 16, 16, 3), np.uint8))


def test_pipelines_with_a_blip_captioner(tmp_path):
    from hfvid.data.rest_videos import tiny_synthetic_components

    config, processor = tiny_synthetic_components(num_frames=2, image_size=16, hidden_size=32, layers=1,
                                                  captioner_type="blip")
    torch.manual_seed(0)
    RESTForZeroShotVideoClassification(config).save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    videos = [v["frames"] for v in shapes_in_motion(3, image_size=16, seed=3)]
    captioner = pipeline("hfvid-video-captioning", model=str(tmp_path))
    assert captioner.model.config.captioner_type == "blip"
    one = captioner(videos[0], max_new_tokens=4)
    assert isinstance(one[0]["generated_text"], str)
    assert captioner(videos, batch_size=2, max_new_tokens=4)[0] == one
    classifier = pipeline("hfvid-zero-shot-video-classification", model=str(tmp_path))
    labels = ["red square moves left", "blue square moves up", "green square moves down"]
    for scoring in ("likelihood", "text_similarity", "combined"):
        out = classifier(videos[0], candidate_labels=labels, hypothesis_template="a {}", scoring=scoring,
                         num_captions=2)
        assert sorted(r["label"] for r in out) == sorted(labels) and isinstance(out[0]["caption"], str)
        assert abs(sum(r["score"] for r in out) - 1) < 1e-5
    single = [classifier(v, candidate_labels=labels, scoring="likelihood") for v in videos]
    batch = classifier(videos, candidate_labels=labels, scoring="likelihood", batch_size=2)
    for a, b in zip(single, batch):
        np.testing.assert_allclose([r["score"] for r in a], [r["score"] for r in b], atol=1e-5)
