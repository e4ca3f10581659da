"""FRL models: conformance of every class, Sinkhorn/SwAV properties (spec section 7), prototypes, schedule, LARS."""

import math

import pytest
import torch
import torch.nn.functional as F
from model_tester import ModelTester

from hfvid import (
    FaceRepresentationConfig,
    FaceRepresentationFor3DFaceAlignment,
    FaceRepresentationForAUIntensity,
    FaceRepresentationForExpressionRecognition,
    FaceRepresentationForFaceRecognition,
    FaceRepresentationForLandmarkDetection,
    FaceRepresentationForSwAVPreTraining,
    FaceRepresentationModel,
)
from hfvid.models.face_pretraining import sinkhorn_knopp, swav_loss
from hfvid.models.face_pretraining.pretraining import LARS, SwAVMultiCrop, swav_learning_rate

SIZE = 32


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_config(**overrides):
    values = dict(embedding_size=4, hidden_sizes=[4, 8, 8, 16], depths=[1, 1, 1, 1], layer_type="basic",
                  image_size=SIZE, heatmap_size=SIZE // 4, head_channels=8, crop_sizes=[SIZE, 16], num_crops=[2, 2],
                  projection_hidden_size=16, projection_dim=8, num_prototypes=6, num_identities=4,
                  recognition_embedding_size=8, num_landmarks=5, num_3d_landmarks=5, num_action_units=3,
                  num_expressions=3, freeze_prototypes_niters=2)
    return FaceRepresentationConfig(**(values | overrides))


def make_inputs(batch_size, seed):
    return {"pixel_values": torch.rand(batch_size, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))}


def make_crops(batch_size, seed):
    g = torch.Generator().manual_seed(seed)
    return {"pixel_values": [torch.rand(batch_size, 3, s, s, generator=g) for s in (SIZE, SIZE, 16, 16)]}


def _rand(*shape):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(shape[0]))  # fixed labels per batch size


LABELS = {
    FaceRepresentationForLandmarkDetection: lambda b: {"labels": 4 + 24 * _rand(b, 5, 2)},
    FaceRepresentationForAUIntensity: lambda b: {"labels": 5 * _rand(b, 3)},
    FaceRepresentationForExpressionRecognition: lambda b: {"labels": torch.arange(b) % 3,
                                                           "valence_arousal": _rand(b, 2) * 2 - 1},
    FaceRepresentationFor3DFaceAlignment: lambda b: {"labels": 32 * _rand(b, 5, 3)},
    FaceRepresentationForFaceRecognition: lambda b: {"labels": torch.arange(b) % 4},
}
OUTPUTS = {
    FaceRepresentationForLandmarkDetection: ("landmarks", "heatmaps"),
    FaceRepresentationForAUIntensity: ("intensities",),
    FaceRepresentationForExpressionRecognition: ("logits", "valence_arousal"),
    FaceRepresentationFor3DFaceAlignment: ("landmarks_3d",),
    FaceRepresentationForFaceRecognition: ("embeddings", "logits"),
}


# ------------------------------------------------------------------------------------------- conformance
def test_base_model_conformance(tmp_path):
    bad = [({"pixel_values": torch.rand(1, 1, SIZE, SIZE)}, "pixel_values"),
           ({"pixel_values": torch.rand(3, SIZE, SIZE)}, "pixel_values")]
    tester = ModelTester(FaceRepresentationModel, tiny_config(), make_inputs, None,
                         output_keys=("pooler_output", "last_hidden_state"))
    tester.run_all(tmp_path, bad_inputs=bad, offline=False)


@pytest.mark.slow  # a fresh interpreter (~10-25 s on a shared 2-core CPU)
def test_base_model_offline_from_pretrained(tmp_path):
    tester = ModelTester(FaceRepresentationModel, tiny_config(), make_inputs, None,
                         output_keys=("pooler_output", "last_hidden_state"))
    tester.check_offline_from_pretrained(tmp_path)


def test_normalized_pooled_output():
    model = FaceRepresentationModel(tiny_config(normalize_pooled_output=True)).eval()
    pooled = model(**make_inputs(3, 0)).pooler_output
    torch.testing.assert_close(pooled.norm(dim=-1), torch.ones(3))


@pytest.mark.parametrize("model_class", list(LABELS), ids=lambda c: c.__name__)
def test_task_head_conformance(model_class, tmp_path):
    tester = ModelTester(model_class, tiny_config(), make_inputs,
                         lambda inputs: LABELS[model_class](inputs["pixel_values"].shape[0]),
                         output_keys=OUTPUTS[model_class], atol=1e-4, rtol=1e-4)
    bad = [({**make_inputs(2, 0), "labels": torch.zeros(3, 9)}, "labels")]
    registered = model_class in (FaceRepresentationForLandmarkDetection, FaceRepresentationForExpressionRecognition)
    if registered:
        tester.check_save_load_round_trip(tmp_path / "save_load")
    tester.check_conformance()  # "targets=" etc. now raise TypeError (check_unknown_kwarg_raises)
    tester.check_batch_consistency()
    tester.check_gradients_reach_all_parameters()
    tester.check_loss_decreases()
    tester.check_bad_inputs(bad)
    tester.check_no_uninitialized_weights(tmp_path / "init")


def test_swav_model_conformance(tmp_path):
    tester = ModelTester(FaceRepresentationForSwAVPreTraining, tiny_config(queue_length=4), make_crops,
                         lambda inputs: {"iteration": 10**6},
                         output_keys=("embeddings", "prototype_scores", "assignments"))
    tester.check_save_load_round_trip(tmp_path / "save_load")
    tester.check_conformance()
    tester.check_eval_determinism()
    tester.check_gradients_reach_all_parameters()
    tester.check_loss_decreases(lr=1e-2)
    tester.check_bad_inputs([({"pixel_values": [torch.rand(2, 3, SIZE, SIZE), torch.rand(3, 3, SIZE, SIZE)]},
                              "batch size"), ({"pixel_values": [torch.rand(3, SIZE, SIZE)]}, "pixel_values")])
    tester.check_no_uninitialized_weights(tmp_path / "init")


def test_config_validation():
    with pytest.raises(ValueError, match="layer_type"):
        tiny_config(layer_type="dense")
    with pytest.raises(ValueError, match="crops_for_assign"):
        tiny_config(crops_for_assign=[7])
    with pytest.raises(ValueError, match="hidden_sizes and depths"):
        tiny_config(depths=[1, 1])
    with pytest.raises(ValueError, match="temperature"):
        tiny_config(temperature="warm")
    with pytest.raises(ValueError, match="heatmap_size"):
        FaceRepresentationForLandmarkDetection(tiny_config(heatmap_size=5))


# ------------------------------------------------------------------------------------------- Sinkhorn / SwAV
def naive_sinkhorn(scores, epsilon, iterations):
    plan = torch.exp(scores.double() / epsilon).t()
    plan /= plan.sum()
    k, b = plan.shape
    for _ in range(iterations):
        plan /= plan.sum(1, keepdim=True) * k
        plan /= plan.sum(0, keepdim=True) * b
    return (plan * b).t()


def test_sinkhorn_uniform_and_marginals():
    q = sinkhorn_knopp(torch.zeros(8, 5))
    torch.testing.assert_close(q, torch.full((8, 5), 0.2))
    scores = torch.rand(16, 10, generator=torch.Generator().manual_seed(0)) * 2 - 1
    q = sinkhorn_knopp(scores, epsilon=0.05, iterations=200)
    plan = q.t() / 16  # the K x B transport plan before the final column rescale
    torch.testing.assert_close(plan.sum(1), torch.full((10,), 1 / 10), atol=1e-5, rtol=0)
    torch.testing.assert_close(plan.sum(0), torch.full((16,), 1 / 16), atol=1e-5, rtol=0)
    torch.testing.assert_close(sinkhorn_knopp(scores).sum(1), torch.ones(16))  # 3 iterations: rows still sum to 1


def test_sinkhorn_numerics_low_precision():
    scores = (torch.rand(32, 20, generator=torch.Generator().manual_seed(1)) * 2 - 1)
    assert torch.isinf(torch.exp(scores.half() / 0.05)).any()  # the naive fp16 version overflows
    q = sinkhorn_knopp(scores.half(), 0.05, 3)
    assert q.dtype == torch.float32 and torch.isfinite(q).all()
    torch.testing.assert_close(q.double(), naive_sinkhorn(scores.half().float(), 0.05, 3), atol=1e-6, rtol=0)


def test_swav_loss_properties():
    k = 6
    assert swav_loss(torch.zeros(4, 3, k), torch.full((2, 3, k), 1 / k), [0, 1]).item() == pytest.approx(math.log(k))
    g = torch.Generator().manual_seed(2)
    scores = torch.randn(4, 3, k, generator=g)
    codes = torch.stack([sinkhorn_knopp(scores[0]), sinkhorn_knopp(scores[1])])
    loss = swav_loss(scores, codes, [0, 1])
    assert loss >= 0
    swapped = swav_loss(scores[[1, 0, 2, 3]], codes[[1, 0]], [0, 1])
    torch.testing.assert_close(loss, swapped)  # the two views' roles are interchangeable
    matched = scores.clone()
    matched[1:] = codes[0].log() * 0.1  # p_v = q_a for every other crop (temperature 0.1)
    assert swav_loss(matched, codes[:1], [0]) < swav_loss(scores, codes[:1], [0])


def test_prototype_normalisation_and_freezing():
    model = FaceRepresentationForSwAVPreTraining(tiny_config(freeze_prototypes_niters=2)).train()
    model.normalize_prototypes()
    torch.testing.assert_close(model.prototypes.weight.norm(dim=1), torch.ones(6), atol=1e-6, rtol=0)
    model(**make_crops(4, 0), iteration=1).loss.backward()
    assert model.prototypes.weight.grad is None
    assert model.projection_head[0].weight.grad is not None
    model(**make_crops(4, 0), iteration=2).loss.backward()
    assert model.prototypes.weight.grad is not None


def test_multicrop_order_shapes_and_grouped_forward():
    config = tiny_config(num_crops=[2, 6], crop_sizes=[SIZE, 16])
    transform = SwAVMultiCrop(config.crop_sizes, config.num_crops, config.min_scale_crops, config.max_scale_crops,
                              [0.5] * 3, [0.25] * 3)
    crops = transform(torch.randint(0, 255, (48, 40, 3), dtype=torch.uint8).numpy())
    assert [tuple(c.shape) for c in crops] == [(3, SIZE, SIZE)] * 2 + [(3, 16, 16)] * 6
    model = FaceRepresentationForSwAVPreTraining(config).eval()
    calls = []
    model.face_repr.register_forward_hook(lambda module, args, output: calls.append(tuple(args[0].shape)))
    out = model([c[None].expand(2, -1, -1, -1) for c in crops])
    assert calls == [(4, 3, SIZE, SIZE), (12, 3, 16, 16)]
    assert out.embeddings.shape == (8, 2, 8) and out.assignments.shape == (2, 2, 6)


def test_queue_fills_and_feeds_sinkhorn():
    model = FaceRepresentationForSwAVPreTraining(tiny_config(queue_length=4)).train()
    out = model(**make_crops(2, 0), use_queue=True)
    torch.testing.assert_close(model.queue[0, :2], out.embeddings[0].detach())
    assert model.queue[:, 2:].abs().sum() == 0


def test_swav_learning_rate_schedule():
    lrs = [swav_learning_rate(i, 1000, 100, 4.8, 0.3, 0.0048) for i in range(1000)]
    assert lrs[0] == pytest.approx(0.3) and lrs[99] == pytest.approx(4.8) and lrs[100] == pytest.approx(4.8)
    assert lrs[-1] == pytest.approx(0.0048, abs=1e-3)
    assert all(a >= b for a, b in zip(lrs[100:], lrs[101:]))


def test_lars_step_matches_apex_larc_rule():
    param = torch.nn.Parameter(torch.tensor([3.0, 4.0]))
    param.grad = torch.tensor([0.6, 0.8])
    LARS([param], lr=0.5, momentum=0.0, weight_decay=0.1, trust_coefficient=0.01, eps=0.0).step()
    scale = 0.01 * 5.0 / (1.0 + 0.1 * 5.0)
    expected = torch.tensor([3.0, 4.0]) - 0.5 * scale * (torch.tensor([0.6, 0.8]) + 0.1 * torch.tensor([3.0, 4.0]))
    torch.testing.assert_close(param.data, expected)


def test_code_entropy_detects_collapse_that_usage_entropy_misses():
    """A constant embedding (SwAV's collapse) gives uniform Sinkhorn codes: per-sample code entropy 1, yet the
    prototype-usage entropy is maximal too, so only the former flags it; a spread embedding gives confident codes."""
    from hfvid.models.face_pretraining.pretraining import code_entropy, prototype_usage_entropy

    model = FaceRepresentationForSwAVPreTraining(tiny_config()).train()
    with torch.no_grad():
        model.projection_head[-1].weight.zero_()  # every crop of every image -> the same embedding
        model.projection_head[-1].bias.copy_(torch.linspace(-1, 1, 8))
    out = model(**make_crops(8, 0))
    assert code_entropy(out.assignments) == pytest.approx(1.0, abs=1e-6)
    assert prototype_usage_entropy(out.assignments) == pytest.approx(1.0, abs=1e-6)
    assert out.loss.item() >= math.log(6) - 1e-6
    spread = F.normalize(torch.randn(32, 8, generator=torch.Generator().manual_seed(0)), dim=-1)
    codes = sinkhorn_knopp(spread @ F.normalize(torch.randn(6, 8, generator=torch.Generator().manual_seed(1)), dim=-1).t())
    assert code_entropy(codes) < 0.7 and prototype_usage_entropy(codes) > 0.9


def test_flip_permutation_is_validated():
    assert tiny_config(flip_permutation=[1, 0, 2, 4, 3]).flip_permutation == [1, 0, 2, 4, 3]
    with pytest.raises(ValueError, match="flip_permutation must be a permutation"):
        tiny_config(flip_permutation=[1, 0, 2])
    with pytest.raises(ValueError, match="involution"):
        tiny_config(flip_permutation=[1, 2, 0, 3, 4])
