"""MeMSVD models: conformance (ModelTester), P9-P11, bad inputs, and the synthetic learning task."""

import pytest
import torch

from hfvid.data.synthetic_memory import synthetic_memory_task
from hfvid.models.memsvd import (
    MeMSVDConfig,
    MeMSVDForActionDetection,
    MeMSVDForVideoClassification,
    MeMSVDModel,
    memory_preparation_macs,
    readout_macs,
)
from model_tester import ModelTester

D, N, C = 16, 12, 5


def tiny_config(**kwargs):
    defaults = dict(feature_dim=D, num_components=3, max_rank=6, latent_dim=8, num_labels=C,
                    max_features_per_second=4, memory_window_seconds=4, num_nonlocal_layers=2, memory_dropout=0.1,
                    classifier_dropout=0.1)
    return MeMSVDConfig(**{**defaults, **kwargs})


def make_inputs(batch_size, seed, key="actor_features"):
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(batch_size, N, dtype=torch.bool)
    mask[:, -3:] = False  # some padding
    return {key: torch.randn(batch_size, D, generator=g), "memory_features": torch.randn(batch_size, N, D, generator=g),
            "memory_mask": mask}


def make_labels(inputs):
    features = inputs.get("actor_features", inputs.get("clip_features"))
    return {"labels": (torch.arange(len(features) * C).reshape(-1, C) % 3 == 0).float()}


def bad_values():
    """Inputs of the right shapes with bad values: refused by `validate_inputs`, not read by `forward`."""
    good = make_inputs(2, 0)
    nan = dict(good, actor_features=good["actor_features"].clone())
    nan["actor_features"][0, 0] = float("nan")
    nan_memory = dict(good, memory_features=good["memory_features"].clone())
    nan_memory["memory_features"][1, 0, 0] = float("inf")
    masked_nan = dict(good, memory_features=good["memory_features"].clone())
    masked_nan["memory_features"][1, -1, 0] = float("nan")  # a padded slot: ignored, not an error
    return [
        (nan, "actor_features contain NaN"),
        (nan_memory, "memory_features contain NaN or inf"),
        (dict(good, actor_batch_index=torch.tensor([0, 2])), r"actor_batch_index values must be in \[0, 2\)"),
        (masked_nan, None),
    ]


def bad_inputs():
    """Missing or mis-shaped inputs: refused by `forward` (and `validate_inputs`)."""
    good = make_inputs(2, 0)
    return [
        (dict(good, memory_features=torch.randn(2, N, D + 1)), "memory_features must have shape"),
        (dict(good, actor_features=torch.randn(2, D + 2)), "actor_features must have shape"),
        (dict(good, actor_features=torch.randn(3, D)), "actor_batch_index"),
        (dict(good, memory_mask=torch.ones(2, N + 1, dtype=torch.bool)), "memory_mask must have shape"),
        (dict(good, pixel_values=torch.rand(2, 3, 4, 8, 8)), "no actor encoder"),
    ]


@pytest.mark.parametrize("memory_type,fusion,offline", [
    ("memsvd", "concat", True), ("memsvd", "residual", False), ("nonlocal", "concat", False), ("none", "concat", False),
])
def test_action_detection_conformance(tmp_path, memory_type, fusion, offline):
    tester = ModelTester(MeMSVDForActionDetection, tiny_config(memory_type=memory_type, fusion=fusion), make_inputs,
                         make_labels, output_keys=("logits",))
    tester.run_all(tmp_path, bad_inputs=bad_inputs()[:3] if memory_type != "none" else [], offline=offline)


def test_video_classification_and_base_model_conformance(tmp_path):
    video = lambda n, seed: make_inputs(n, seed, key="clip_features")  # noqa: E731
    ModelTester(MeMSVDForVideoClassification, tiny_config(fusion="concat_raw"), video, make_labels,
                output_keys=("logits",)).run_all(tmp_path / "video", offline=False)
    ModelTester(MeMSVDModel, tiny_config(), make_inputs, None, output_keys=("last_hidden_state", "reconstructed"),
                ).run_all(tmp_path / "base", bad_inputs=bad_inputs(), offline=False)


@pytest.mark.parametrize("memory_type", ["memsvd", "nonlocal"])
def test_value_checks_are_an_explicit_step_so_forward_exports(memory_type):
    """`validate_inputs` (the pipeline calls it per keyframe) refuses NaN/inf features and out-of-range indices;
    `forward` checks shapes only, so `torch.export` captures it as one graph without data-dependent guards."""
    model = MeMSVDForActionDetection(tiny_config(memory_type=memory_type)).eval()
    for inputs, fragment in bad_values():
        if fragment is None:
            model.validate_inputs(**inputs, labels=torch.zeros(2, C))
            continue
        with pytest.raises(ValueError, match=fragment):
            model.validate_inputs(**inputs)
    for inputs, fragment in bad_inputs()[:-1]:
        with pytest.raises(ValueError, match=fragment):
            model.validate_inputs(**inputs)
    with torch.no_grad():  # forward does not look at the values: NaN in, NaN out
        assert model(**bad_values()[0][0]).logits[0].isnan().all()
    inputs = dict(make_inputs(2, 0), actor_batch_index=torch.tensor([0, 1]))
    exported = torch.export.export(model, (), inputs)
    with torch.no_grad():
        torch.testing.assert_close(exported.module()(**inputs)["logits"], model(**inputs).logits)
    video = MeMSVDForVideoClassification(tiny_config(memory_type=memory_type))
    with pytest.raises(ValueError, match="actor_features contain NaN"):
        video.validate_inputs(clip_features=bad_values()[0][0]["actor_features"],
                              memory_features=inputs["memory_features"])


def test_config_return_dict_false_gives_tuples_end_to_end():
    model = MeMSVDForVideoClassification(tiny_config(return_dict=False)).eval()
    inputs = make_inputs(2, 0, key="clip_features")
    with torch.no_grad():
        as_tuple, as_dict = model(**inputs), model(**inputs, return_dict=True)
    assert type(as_tuple) is tuple and torch.equal(as_tuple[0], as_dict.logits)


def test_action_detection_and_video_classification_share_weights(tmp_path):
    model = MeMSVDForActionDetection(tiny_config()).eval()
    model.save_pretrained(tmp_path)
    video = MeMSVDForVideoClassification.from_pretrained(tmp_path).eval()
    inputs = make_inputs(2, 0)
    with torch.no_grad():
        expected = model(**inputs).logits
        actual = video(clip_features=inputs["actor_features"], memory_features=inputs["memory_features"],
                       memory_mask=inputs["memory_mask"]).logits
    torch.testing.assert_close(actual, expected)


def test_multiple_actors_per_memory_and_all_masked_memory():
    model = MeMSVDForActionDetection(tiny_config()).eval()
    no_memory = MeMSVDForActionDetection(tiny_config(memory_type="memsvd")).eval()
    no_memory.load_state_dict(model.state_dict())
    inputs = make_inputs(2, 0)
    actors = torch.randn(3, D)
    index = torch.tensor([0, 0, 1])
    with torch.no_grad():
        out = model(actor_features=actors, actor_batch_index=index, memory_features=inputs["memory_features"],
                    memory_mask=inputs["memory_mask"], output_memory_basis=True)
        assert out.logits.shape == (3, C) and out.memory_basis.shape == (2, D, 3)
        empty = model(actor_features=actors, actor_batch_index=index, memory_features=inputs["memory_features"],
                      memory_mask=torch.zeros(2, N, dtype=torch.bool))
        zero_context = model(actor_features=actors, actor_batch_index=index, memory_features=torch.zeros(2, N, D))
    assert torch.isfinite(empty.logits).all()
    assert empty.reconstructed.abs().max() == 0  # no context, not NaN
    torch.testing.assert_close(empty.logits, zero_context.logits)
    nonlocal_model = MeMSVDForActionDetection(tiny_config(memory_type="nonlocal")).eval()
    with torch.no_grad():
        out = nonlocal_model(actor_features=actors, actor_batch_index=index, memory_features=inputs["memory_features"],
                             memory_mask=torch.zeros(2, N, dtype=torch.bool))
    assert torch.isfinite(out.logits).all()


def test_p9_streaming_equals_batch_window():
    d = D
    batch = tiny_config(max_rank=d, num_components=3)
    stream = tiny_config(max_rank=d, num_components=3, memory_mode="incremental", forgetting_factor=1.0)
    torch.manual_seed(0)
    left, _ = torch.linalg.qr(torch.randn(d, d))
    memory = (torch.randn(2, N, d) @ torch.diag(torch.linspace(5, 0.5, d)) @ left.T)  # separated spectrum
    batch_model = MeMSVDForActionDetection(batch).eval()
    stream_model = MeMSVDForActionDetection(stream).eval()
    stream_model.load_state_dict(batch_model.state_dict())
    actors = torch.randn(2, d)
    with torch.no_grad():
        torch.testing.assert_close(stream_model(actor_features=actors, memory_features=memory).logits,
                                   batch_model(actor_features=actors, memory_features=memory).logits,
                                   atol=1e-5, rtol=0)
        state = stream_model.memsvd.memory.stream(memory, block_size=4)
        torch.testing.assert_close(stream_model(actor_features=actors, memory_basis=state).logits,
                                   batch_model(actor_features=actors, memory_features=memory).logits,
                                   atol=1e-5, rtol=0)


def test_center_memory_streaming_equals_batch_window():
    """center_memory=True is applied in incremental mode too (it used to be skipped there: logits differed)."""
    batch = tiny_config(max_rank=D, num_components=3, center_memory=True)
    stream = tiny_config(max_rank=D, num_components=3, center_memory=True, memory_mode="incremental")
    torch.manual_seed(0)
    left, _ = torch.linalg.qr(torch.randn(D, D))
    memory = (torch.randn(2, N, D) @ torch.diag(torch.linspace(5, 0.5, D)) @ left.T) + 3.0
    mask = torch.ones(2, N, dtype=torch.bool)
    mask[1, -5:] = False
    batch_model = MeMSVDForActionDetection(batch).eval()
    stream_model = MeMSVDForActionDetection(stream).eval()
    stream_model.load_state_dict(batch_model.state_dict())
    actors = torch.randn(2, D)
    with torch.no_grad():
        expected = batch_model(actor_features=actors, memory_features=memory, memory_mask=mask).logits
        torch.testing.assert_close(stream_model(actor_features=actors, memory_features=memory, memory_mask=mask).logits,
                                   expected, atol=1e-5, rtol=0)


def test_p10_gradient_into_the_basis():
    torch.manual_seed(0)
    left, _ = torch.linalg.qr(torch.randn(D, D))
    memory = (torch.randn(2, N, D) @ torch.diag(torch.linspace(5, 0.5, D)) @ left.T).requires_grad_()
    labels = torch.zeros(2, C)
    model = MeMSVDForActionDetection(tiny_config())
    model(actor_features=torch.randn(2, D), memory_features=memory, labels=labels).loss.backward()
    assert memory.grad is None or memory.grad.abs().max() == 0
    for driver in ("gram", "svd"):
        memory.grad = None
        model = MeMSVDForActionDetection(tiny_config(detach_basis=False, svd_driver=driver))
        model(actor_features=torch.randn(2, D), memory_features=memory, labels=labels).loss.backward()
        assert memory.grad is not None and torch.isfinite(memory.grad).all() and memory.grad.abs().max() > 0


def test_p11_analytic_costs():
    d, n, n_c, latent = 256, 300, 16, 128
    memsvd = readout_macs("memsvd", d, n, n_c)
    attention = readout_macs("nonlocal", d, n, latent_dim=latent, num_layers=1)
    assert memsvd == 2 * d * n_c and attention > 10 * memsvd
    update = memory_preparation_macs("memsvd_incremental", d, n, max_rank=64, block_size=5)
    recompute = memory_preparation_macs("nonlocal", d, n, latent_dim=latent, num_layers=1)
    assert recompute == 2 * n * d * latent and recompute > 10 * update
    # the caveat: a batch SVD per window costs about as much as the K/V projections
    assert memory_preparation_macs("memsvd_batch", d, n) > recompute / 10


def test_config_validation():
    for bad, field in [(dict(memory_type="lstm"), "memory_type"), (dict(fusion="sum"), "fusion"),
                       (dict(num_components=9, max_rank=8), "num_components"),
                       (dict(forgetting_factor=1.5), "forgetting_factor"), (dict(feature_dim=0), "feature_dim"),
                       (dict(memory_dropout=1.0), "memory_dropout"), (dict(eval_label_ids=[99]), "eval_label_ids"),
                       (dict(feature_dim="big"), "feature_dim")]:
        with pytest.raises(ValueError, match=field):
            tiny_config(**bad)
    assert MeMSVDConfig().eval_label_ids[:3] == [0, 2, 3] and len(MeMSVDConfig().eval_label_ids) == 60


def train_synthetic(memory_type, steps=300):
    torch.manual_seed(0)
    train, test = synthetic_memory_task(2048, seed=0), synthetic_memory_task(512, seed=1)
    config = MeMSVDConfig(feature_dim=32, num_components=1, max_rank=4, latent_dim=32, num_labels=8,
                          memory_type=memory_type, problem_type="single_label_classification",
                          memory_dropout=0.0, classifier_dropout=0.0)
    model = MeMSVDForActionDetection(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    query, memory, label = (torch.from_numpy(train[k]) for k in ("query", "memory", "label"))
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(steps):
        i = torch.randint(0, len(query), (64,), generator=g)
        loss = model(actor_features=query[i], memory_features=memory[i], labels=label[i]).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        logits = model(actor_features=torch.from_numpy(test["query"]), memory_features=torch.from_numpy(test["memory"])).logits
    return (logits.argmax(-1).numpy() == test["label"]).mean(), losses


def test_synthetic_task_needs_memory():
    memsvd, losses = train_synthetic("memsvd")
    none, _ = train_synthetic("none")
    assert memsvd > 0.8 and memsvd > none + 0.25, (memsvd, none)
    assert sum(losses[-20:]) / 20 < 0.5 * sum(losses[:20]) / 20
