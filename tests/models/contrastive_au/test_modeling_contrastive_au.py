"""Contrastive AU: conformance, the must-show properties of issue 9 / spec section 7, and the 2%-label learning test."""

import math

import numpy as np
import pytest
import torch
from model_tester import ModelTester

from hfvid import ContrastiveAUConfig, ContrastiveAUForAUIntensity, ContrastiveAUForPreTraining, ContrastiveAUModel
from hfvid.models.contrastive_au import LabelSplit, info_nce, sample_window_start, select_labelled_frames
from hfvid.models.contrastive_au.sparse_labels import num_labelled
from hfvid.modules.temporal import masked_mse

BACKBONE = {"embedding_size": 8, "hidden_sizes": [16], "depths": [1], "layer_type": "basic"}
TINY = dict(image_size=32, backbone_config=BACKBONE, temporal_hidden_size=16, embedding_dim=8,
            projection_hidden_size=16, num_aus=3, au_names=["AU01", "AU06", "AU12"], chunk_size=5)


pytestmark = pytest.mark.usefixtures("one_thread")


def pixels(frames):
    def make(batch_size, seed):
        return {"pixel_values": torch.randn(batch_size, frames, 3, 32, 32, generator=torch.Generator().manual_seed(seed))}

    return make


def sparse_labels(inputs):
    batch, frames = inputs["pixel_values"].shape[:2]
    g = torch.Generator().manual_seed(3)
    mask = torch.zeros(batch, frames, dtype=torch.bool)
    mask[:, 1] = mask[:, frames - 1] = True
    return {"labels": torch.rand(batch, frames, 3, generator=g) * 5, "label_mask": mask}


def test_conformance(tmp_path):
    config = ContrastiveAUConfig(**TINY)
    ModelTester(ContrastiveAUForAUIntensity, config, pixels(6), sparse_labels,
                output_keys=("intensities", "last_hidden_state")).run_all(tmp_path / "head", bad_inputs=[
        ({"pixel_values": torch.randn(1, 3, 32, 32)}, "pixel_values must have shape"),
        ({**pixels(6)(1, 0), "labels": torch.zeros(1, 6, 2)}, "labels must have shape"),
    ])
    ModelTester(ContrastiveAUForPreTraining, config, pixels(config.clip_length), lambda inputs: {},
                output_keys=("predicted_embeddings", "target_embeddings")).run_all(
        tmp_path / "pre", offline=False, bad_inputs=[(pixels(4)(2, 0), "num_observed_steps + num_predicted_steps")])
    ModelTester(ContrastiveAUModel, config, pixels(6), None, output_keys=("last_hidden_state",)).run_all(
        tmp_path / "base", offline=False)


def test_config_validation():
    for bad, field in [({"label_ratio": 0.0}, "label_ratio"), ({"label_ratio": 1.5}, "label_ratio"),
                       ({"pretext": "mae"}, "pretext"), ({"num_aus": 2}, "au_names")]:
        with pytest.raises(ValueError, match=field):
            ContrastiveAUConfig(**{**TINY, **bad})


def test_info_nce_hand_value_limits_and_permutation():
    predicted = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    targets = torch.tensor([[0.6, 0.8], [0.0, 1.0]])
    loss, logits, accuracy = info_nce(predicted, targets, temperature=0.5)
    # logits = [[1.2, 0], [1.6, 2]]; loss = mean(-log softmax(diag)) by hand
    hand = 0.5 * ((math.log(math.exp(1.2) + 1) - 1.2) + (math.log(math.exp(1.6) + math.exp(2.0)) - 2.0))
    assert torch.allclose(logits, torch.tensor([[1.2, 0.0], [1.6, 2.0]]))
    assert loss.item() == pytest.approx(hand, abs=1e-6) and accuracy.item() == 1.0
    eye = torch.eye(6)
    assert info_nce(eye, eye, 0.01)[0].item() < 1e-3  # aligned orthogonal pairs: minimal
    shuffled = info_nce(eye, eye[torch.randperm(6, generator=torch.Generator().manual_seed(0))], 0.01)[0]
    assert shuffled.item() > 10  # misaligned pairs are far from the minimum
    same = torch.ones(5, 4) / 2
    assert info_nce(same, same, 0.1)[0].item() == pytest.approx(math.log(5), abs=1e-6)
    g = torch.Generator().manual_seed(1)
    p, t = torch.randn(8, 4, generator=g), torch.randn(8, 4, generator=g)
    perm = torch.randperm(8, generator=g)
    assert torch.allclose(info_nce(p, t, 0.1)[0], info_nce(p[perm], t[perm], 0.1)[0], atol=1e-6)


def test_sparse_loss_ignores_unlabelled_frames_exactly():
    torch.manual_seed(0)
    model = ContrastiveAUForAUIntensity(ContrastiveAUConfig(**TINY)).eval()
    x = torch.randn(2, 8, 3, 32, 32)
    labels = torch.rand(2, 8, 3) * 5
    mask = torch.zeros(2, 8, dtype=torch.bool)
    mask[0, 2] = mask[1, 6] = True
    loss = model(x, labels=labels, label_mask=mask).loss
    changed = torch.where(mask[..., None], labels, torch.full_like(labels, float("nan")))
    changed[1, 0] = 9.0
    assert torch.equal(model(x, labels=changed, label_mask=mask).loss, loss)  # NaN / 9 / anything elsewhere
    out = model(x)
    assert loss.item() == pytest.approx(((out.intensities[mask] - labels[mask]) ** 2).mean().item(), rel=1e-6)
    empty = model(x, labels=labels, label_mask=torch.zeros_like(mask)).loss
    assert empty.item() == 0.0 and torch.isfinite(empty)
    assert masked_mse(torch.zeros(1, 2, 1), torch.tensor([[[float("nan")], [1.0]]]),
                      torch.tensor([[[False], [True]]])).item() == 1.0


def test_sparse_bptt_gradient_pattern_and_causality():
    torch.manual_seed(0)
    model = ContrastiveAUForAUIntensity(ContrastiveAUConfig(**TINY)).eval()
    features = torch.randn(1, 10, 16, requires_grad=True)
    intensities, _ = model.intensities_from_features(features)
    intensities.retain_grad()
    mask = torch.zeros(1, 10, dtype=torch.bool)
    mask[0, 4] = True
    masked_mse(intensities, torch.ones_like(intensities), mask[..., None].expand_as(intensities)).backward()
    per_frame = features.grad.abs().sum(-1)[0]
    assert per_frame[:5].sum() > 0 and per_frame[5:].eq(0).all()
    assert intensities.grad[0, [t for t in range(10) if t != 4]].eq(0).all()
    x = torch.randn(1, 8, 3, 32, 32)
    y = x.clone()
    y[:, 5:] = torch.randn(1, 3, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x).intensities[:, :5], model(y).intensities[:, :5])


def test_frame_selector_exact_reproducible_and_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    labels = {f"v{i}": rng.integers(0, 6, size=(n, 3)).astype(np.float32) for i, n in enumerate([128, 75, 10, 300])}
    labels["v1"][:20] = np.nan  # uncoded frames (BP4D 9) are never chosen
    split = select_labelled_frames(labels, 0.02, seed=0)
    for video, y in labels.items():
        valid = int((~np.isnan(y).all(1)).sum())
        assert len(split.frames[video]) == max(1, math.floor(0.02 * valid + 0.5))
        assert len(set(split.frames[video])) == len(split.frames[video])
        assert all(not np.isnan(y[t]).all() for t in split.frames[video])
    assert [len(split.frames[v]) for v in labels] == [3, 1, 1, 6]  # 2.56->3, 1.1->1, 0.2->1 (at least one), 6
    assert num_labelled(0.5, 5) == 3  # 2.5 rounds half up
    assert select_labelled_frames(labels, 0.02, seed=0) == split
    assert select_labelled_frames(labels, 0.02, seed=1).frames != split.frames
    assert LabelSplit.load(split.save(tmp_path / LabelSplit.file_name(0.02, 0))) == split
    pooled = select_labelled_frames(labels, 0.02, seed=0, sampling="pooled")
    total = sum(int((~np.isnan(y).all(1)).sum()) for y in labels.values())
    assert pooled.num_labelled == math.floor(0.02 * total + 0.5)
    for ratio in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="label_ratio"):
            select_labelled_frames(labels, ratio)


def test_window_sampler_covers_positions_and_rejects_short_videos():
    rng = np.random.default_rng(0)
    positions = set()
    for _ in range(400):
        start = sample_window_start(100, 8, np.array([50]), rng)
        assert start <= 50 < start + 8
        positions.add(50 - start)
    assert positions == set(range(8))
    with pytest.raises(ValueError, match="shorter than the temporal window"):
        sample_window_start(5, 8, np.array([2]), rng)


def test_streaming_equals_single_pass_and_pipeline(tmp_path):
    import hfvid  # noqa: F401 (registers the pipeline)
    from transformers import pipeline

    from hfvid.models.affective_process import AffectiveProcessVideoProcessor

    torch.manual_seed(0)
    model = ContrastiveAUForAUIntensity(ContrastiveAUConfig(**TINY)).eval()
    video = torch.randn(23, 3, 32, 32)
    with torch.no_grad():
        whole = model(video[None]).intensities[0].numpy()
    chunked = model.predict_sequence(video, chunk_size=5, clamp=False)
    assert chunked.shape == whole.shape and np.abs(chunked - whole).max() < 1e-5
    model.save_pretrained(tmp_path)
    AffectiveProcessVideoProcessor(size={"height": 32, "width": 32}).save_pretrained(tmp_path)
    pipe = pipeline("hfvid-au-intensity", model=str(tmp_path), device="cpu")
    frames = [np.random.default_rng(t).integers(0, 255, (40, 40, 3), dtype=np.uint8) for t in range(23)]
    records = pipe(frames, batch_size=4, face_detector="full_image")
    assert [r["frame"] for r in records] == list(range(23))
    pixels_ = pipe.video_processor(frames)["pixel_values"][0]
    expected = model.predict_sequence(pixels_)
    got = np.array([[r[name] for name in TINY["au_names"]] for r in records])
    assert np.abs(got - expected).max() < 1e-5


def test_pretraining_checkpoint_loads_with_only_regressor_new(tmp_path):
    ContrastiveAUForPreTraining(ContrastiveAUConfig(**TINY)).save_pretrained(tmp_path)
    model, info = ContrastiveAUForAUIntensity.from_pretrained(tmp_path, output_loading_info=True)
    assert sorted(info["missing_keys"]) == ["regressor.bias", "regressor.weight"]
    assert all(k.startswith(("predictor.", "projection.")) for k in info["unexpected_keys"])


def test_mismatched_au_label_files_and_short_videos_raise(tmp_path):
    from hfvid.data.formats.disfa import DISFA_AUS, write_disfa_subject
    from hfvid.models.affective_process import AffectiveProcessVideoProcessor
    from hfvid.data.affect_sequences import ClipDataset, labelled_sequences

    folder = write_disfa_subject(tmp_path / "labels", "SN001", np.zeros((10, 12)))
    (folder / f"SN001_au{DISFA_AUS[3]}.txt").write_text("".join(f"{t + 1},0\n" for t in range(8)))
    with pytest.raises(ValueError):
        labelled_sequences("disfa", tmp_path / "labels", None)
    processor = AffectiveProcessVideoProcessor(size={"height": 32, "width": 32})
    short = [{"video_id": "v", "frames": [np.zeros((32, 32, 3), np.uint8)] * 10, "labels": None}]
    with pytest.raises(ValueError, match="shorter than the temporal window"):
        ClipDataset(short, processor, clip_length=8, frame_stride=2)


# ---------------------------------------------------------------------------------------------- learning test
LEARN = dict(image_size=32, temporal_hidden_size=32, embedding_dim=16, projection_hidden_size=32, num_aus=3,
             au_names=["AU01", "AU06", "AU12"],
             backbone_config={"embedding_size": 8, "hidden_sizes": [16, 32], "depths": [1, 1], "layer_type": "basic"})
MEAN, STD = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def _normalise(frames):
    return (torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255 - MEAN) / STD


def _pretrain(videos, steps, seed=0):
    torch.manual_seed(seed)
    model = ContrastiveAUForPreTraining(ContrastiveAUConfig(**LEARN))
    optimizer = torch.optim.Adam(model.parameters(), 3e-3)
    rng = np.random.default_rng(seed)
    n, stride = model.config.clip_length, model.config.frame_stride
    history = []
    for _ in range(steps):
        clips = []
        for _ in range(16):
            video = videos[rng.integers(len(videos))]
            start = rng.integers(0, len(video) - (n - 1) * stride)
            clips.append(video[start : start + (n - 1) * stride + 1 : stride])
        out = model(torch.stack(clips))
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        history.append((out.loss.item(), out.accuracy.item(), out.logits.shape[0]))
    return model, history


def _finetune(init, labelled, test, steps, seed=0, ratio=0.02, window=32):
    from hfvid.metrics.affect import affect_metrics

    torch.manual_seed(seed)
    model = ContrastiveAUForAUIntensity(ContrastiveAUConfig(**LEARN))
    if init is not None:
        model.contrastive_au.load_state_dict(init.contrastive_au.state_dict())
    split = select_labelled_frames({v["video_id"]: v["labels"] for v in labelled}, ratio, seed=0)
    pixels_ = [_normalise(v["frames"]) for v in labelled]
    optimizer = torch.optim.Adam(model.parameters(), 3e-3)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        xs, ys, ms = [], [], []
        for _ in range(8):
            i = rng.integers(len(labelled))
            mask = split.mask(labelled[i]["video_id"], len(labelled[i]["labels"]))
            start = sample_window_start(len(mask), window, np.flatnonzero(mask), rng)
            xs.append(pixels_[i][start : start + window])
            ys.append(torch.from_numpy(labelled[i]["labels"][start : start + window]))
            ms.append(torch.from_numpy(mask[start : start + window]))
        loss = model(torch.stack(xs), labels=torch.stack(ys), label_mask=torch.stack(ms)).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    predictions = np.concatenate([model.predict_sequence(_normalise(v["frames"])) for v in test])
    references = np.concatenate([v["labels"] for v in test])
    return affect_metrics(predictions, references, names=LEARN["au_names"], metrics=("icc",))["icc_mean"]


def _learning_run(pretrain_steps, finetune_steps, seeds):
    from hfvid.data.synthetic_affect import synthetic_affect_videos

    unlabelled = [_normalise(v["frames"]) for v in synthetic_affect_videos(48, 64, "au", 32, offset_std=0.0, seed=1)]
    labelled = synthetic_affect_videos(6, 128, "au", 32, offset_std=0.0, seed=2)  # 6 x 3 = 18 labelled frames
    test = synthetic_affect_videos(8, 128, "au", 32, offset_std=0.0, seed=3)
    pretrained, history = _pretrain(unlabelled, pretrain_steps)
    last = history[-20:]
    loss, accuracy, m = np.mean([h[0] for h in last]), np.mean([h[1] for h in last]), last[-1][2]
    assert loss < 0.8 * math.log(m) and accuracy > 3 / m, (loss, accuracy, m)
    for seed in seeds:
        with_pretraining = _finetune(pretrained, labelled, test, finetune_steps, seed)
        from_scratch = _finetune(None, labelled, test, finetune_steps, seed)
        assert with_pretraining > from_scratch + 0.05, (seed, with_pretraining, from_scratch)


def test_pretraining_beats_scratch_at_two_percent_labels():
    """Stage 1 (600 steps) then stage 2 on 2% random labels beats stage 2 from scratch on held-out ICC."""
    _learning_run(pretrain_steps=600, finetune_steps=100, seeds=(0,))


@pytest.mark.slow
def test_pretraining_beats_scratch_three_seeds():
    _learning_run(pretrain_steps=600, finetune_steps=100, seeds=(0, 1, 2))
