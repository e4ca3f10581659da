"""MViTv2: conformance, exact parity with torchvision (converter), full-size key set, backbone feature maps, config."""

import pytest
import torch
from model_tester import ModelTester
from torchvision.models.video import MViT, mvit_v2_s
from torchvision.models.video.mvit import MSBlockConfig

import hfvid  # noqa: F401
from hfvid.models.mvitv2 import (
    MViTv2Backbone,
    MViTv2Config,
    MViTv2ForVideoClassification,
    MViTv2Model,
    config_from_torchvision,
    convert_torchvision_mvit_state_dict,
    tokens_to_grid,
)
from hfvid.models.mvitv2.convert_torchvision_mvit_to_hfvid import load_converted_model

TINY = dict(image_size=[32, 32], num_frames=4, embed_dim=16, num_heads=[1, 2, 2], output_channels=[16, 32, 32],
            stride_q=[[1, 1, 1], [1, 2, 2], [1, 1, 1]], stride_kv=[[1, 4, 4], [1, 2, 2], [1, 1, 1]],
            stochastic_depth_prob=0.0, num_labels=5)


pytestmark = pytest.mark.usefixtures("one_thread")


def make_inputs(batch_size, seed):
    return {"pixel_values": torch.randn(batch_size, 4, 3, 32, 32, generator=torch.Generator().manual_seed(seed))}


def test_common_model_checks(tmp_path):
    config = MViTv2Config(**TINY)
    bad = [({"pixel_values": torch.randn(1, 3, 3, 32, 32)}, "num_frames")]
    ModelTester(MViTv2Model, config, make_inputs, None,
                output_keys=("last_hidden_state",)).run_all(tmp_path / "base", bad_inputs=bad, offline=False)
    # The classifier reads only the CLS token, which never uses the last block's query pooling or relative
    # positions (torchvision behaves the same), so the "every parameter gets a gradient" check does not apply.
    classifier = ModelTester(MViTv2ForVideoClassification, config, make_inputs,
                             lambda inputs: {"labels": torch.arange(inputs["pixel_values"].shape[0]) % 5},
                             output_keys=("logits",))
    classifier.check_conformance()
    classifier.check_save_load_round_trip(tmp_path / "cls")
    classifier.check_loss_decreases()
    classifier.check_bad_inputs([(make_inputs(2, 0) | {"labels": torch.zeros(3)}, "labels")])


def tiny_torchvision_mvit():
    blocks = [MSBlockConfig(1, 16, 16, [3, 3, 3], [3, 3, 3], [1, 1, 1], [1, 4, 4]),
              MSBlockConfig(2, 16, 32, [3, 3, 3], [3, 3, 3], [1, 2, 2], [1, 2, 2]),
              MSBlockConfig(2, 32, 32, [3, 3, 3], [3, 3, 3], [1, 1, 1], [1, 1, 1])]
    return MViT(spatial_size=(32, 32), temporal_size=4, block_setting=blocks, residual_pool=True,
                residual_with_cls_embed=False, rel_pos_embed=True, proj_after_attn=True, stochastic_depth_prob=0.2,
                num_classes=5).eval()


def test_converter_reproduces_torchvision_exactly():
    reference = tiny_torchvision_mvit()
    config = config_from_torchvision(reference)
    assert config.num_heads == [1, 2, 2] and config.stride_q[1] == [1, 2, 2] and config.num_labels == 5
    config, state_dict = convert_torchvision_mvit_state_dict(reference.state_dict(), config)
    model = load_converted_model(config, state_dict)
    captured = {}
    reference.norm.register_forward_hook(lambda module, args, output: captured.setdefault("tokens", output))
    video = torch.randn(2, 4, 3, 32, 32)
    with torch.no_grad():
        expected = reference(video.transpose(1, 2))  # torchvision takes (B, C, T, H, W)
        out = model(video)
        tokens = model.mvitv2(video)
    assert (out.logits - expected).abs().max() <= 1e-5
    assert (tokens.last_hidden_state - captured["tokens"]).abs().max() <= 1e-5
    assert tokens.token_grid == (2, 4, 4) and tokens.last_hidden_state.shape == (2, 1 + 32, 32)


def test_full_size_mvit_v2_s_key_set():
    with torch.device("meta"):  # shapes only: no 34.5 M-parameter initialisation
        reference = mvit_v2_s(weights=None)
        config, state_dict = convert_torchvision_mvit_state_dict(reference.state_dict())
        model = MViTv2ForVideoClassification(config)
    expected = model.state_dict()
    assert state_dict.keys() == expected.keys()
    assert all(state_dict[k].shape == v.shape for k, v in expected.items())
    assert config_from_torchvision(reference).to_dict() == config.to_dict()
    assert model.mvitv2.token_grid_size == (8, 7, 7)


def test_convert_checkpoint_file_to_a_loadable_folder(tmp_path):
    from safetensors.torch import save_file
    from transformers import AutoModelForVideoClassification

    from hfvid.models.mvitv2.convert_torchvision_mvit_to_hfvid import convert

    reference = tiny_torchvision_mvit()
    save_file(reference.state_dict(), str(tmp_path / "mvit.safetensors"))
    convert(tmp_path / "mvit.safetensors", tmp_path / "out", config_from_torchvision(reference))
    model = AutoModelForVideoClassification.from_pretrained(tmp_path / "out").eval()
    video = torch.randn(1, 4, 3, 32, 32)
    with torch.no_grad():
        assert (model(video).logits - reference(video.transpose(1, 2))).abs().max() <= 1e-5
    card = (tmp_path / "out" / "README.md").read_text()
    assert "torchvision mvit_v2_s" in card and "library_name: hfvid" in card


def test_strict_loading_reports_bad_keys():
    config, state_dict = convert_torchvision_mvit_state_dict(tiny_torchvision_mvit().state_dict(),
                                                             MViTv2Config(**TINY))
    state_dict.pop("mvitv2.norm.weight")
    with pytest.raises(ValueError, match="missing keys.*norm.weight"):
        load_converted_model(config, state_dict)
    with pytest.raises(ValueError, match="conv_proj.weight"):
        convert_torchvision_mvit_state_dict({"head.1.weight": torch.zeros(2, 2)})


def test_backbone_feature_maps():
    config = MViTv2Config(**TINY, out_features=["stem", "stage1", "stage2"])
    assert config.stage_names == ["stem", "stage1", "stage2"]
    backbone = MViTv2Backbone(config).eval()
    with torch.no_grad():
        maps = backbone(**make_inputs(2, 0)).feature_maps
        tokens = backbone.mvitv2(**make_inputs(2, 0))
    assert [tuple(m.shape) for m in maps] == [(2, 16, 2, 8, 8), (2, 16, 2, 8, 8), (2, 32, 2, 4, 4)]
    assert backbone.channels == [16, 16, 32]
    torch.testing.assert_close(maps[-1], tokens_to_grid(tokens.last_hidden_state, tokens.token_grid))


def test_backbone_output_contract():
    """Hidden states only on request, `return_dict=False` a tuple, attentions dropped by the filtered call (the
    backbone has none), any other unknown keyword refused by name."""
    backbone = MViTv2Backbone(MViTv2Config(**TINY, out_features=["stage1", "stage2"])).eval()
    inputs = make_inputs(1, 0)
    with torch.no_grad():
        plain = backbone(**inputs)
        hidden = backbone(**inputs, output_hidden_states=True)
        as_tuple = backbone(**inputs, return_dict=False)
        filtered = backbone.forward_with_filtered_kwargs(**inputs, output_attentions=True)
    assert plain.hidden_states is None and len(hidden.hidden_states) == 1 + len(TINY["num_heads"])
    assert type(as_tuple) is tuple and len(as_tuple) == 1
    for maps in (hidden.feature_maps, as_tuple[0], filtered.feature_maps):
        assert all(torch.equal(a, b) for a, b in zip(plain.feature_maps, maps))
    with pytest.raises(TypeError, match="output_attentions"):
        backbone(**inputs, output_attentions=True)


def test_config_return_dict_false_gives_tuples_end_to_end():
    config = MViTv2Config(**TINY, return_dict=False, out_features=["stage2"])
    with torch.no_grad():
        logits, *_ = MViTv2ForVideoClassification(config).eval()(**make_inputs(1, 0))
        (feature_map,), = MViTv2Backbone(config).eval()(**make_inputs(1, 0))
    assert logits.shape == (1, 5) and feature_map.shape == (1, 32, 2, 4, 4)


def test_hidden_states_are_the_embedding_and_every_block():
    model = MViTv2ForVideoClassification(MViTv2Config(**TINY)).eval()
    with torch.no_grad():
        out = model(**make_inputs(1, 0), output_hidden_states=True)
        assert model(**make_inputs(1, 0)).hidden_states is None
    widths = [16, 16, 32, 32]
    assert [h.shape[-1] for h in out.hidden_states] == widths


@pytest.mark.parametrize("overrides, field", [
    ({"image_size": [32]}, "image_size"),
    ({"output_channels": [16, 32]}, "output_channels"),
    ({"output_channels": [16, 33, 32]}, "output_channels"),
    ({"image_size": [4, 4]}, "stride_q"),
    ({"classifier_dropout": 1.0}, "classifier_dropout"),
    ({"num_frames": "16"}, "num_frames"),
])
def test_config_validation(overrides, field):
    with pytest.raises(ValueError, match=field):
        MViTv2Config(**{**TINY, **overrides})


def test_gradient_checkpointing_gives_equal_loss_and_gradients():
    config = MViTv2Config(**TINY, attention_dropout=0.0, classifier_dropout=0.0)
    model = MViTv2ForVideoClassification(config).train()
    inputs = make_inputs(2, 3) | {"labels": torch.tensor([1, 4])}
    calls = []
    model.mvitv2.blocks[1].attn.register_forward_hook(lambda *args: calls.append(1))

    def loss_and_grads():
        calls.clear()
        model.zero_grad()
        loss = model(**inputs).loss
        loss.backward()
        return loss.detach(), {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}

    plain_loss, plain_grads = loss_and_grads()
    assert len(calls) == 1
    assert model.supports_gradient_checkpointing
    model.gradient_checkpointing_enable()
    assert all(block.gradient_checkpointing for block in model.mvitv2.blocks)
    checkpointed_loss, checkpointed_grads = loss_and_grads()
    assert len(calls) == 2  # the block ran again in the backward pass: its activations were not kept
    assert len(plain_grads) > 10 and plain_grads.keys() == checkpointed_grads.keys()
    torch.testing.assert_close(checkpointed_loss, plain_loss, atol=1e-6, rtol=0)
    for name, grad in plain_grads.items():
        torch.testing.assert_close(checkpointed_grads[name], grad, atol=1e-6, rtol=1e-6, msg=name)


SIZES = dict(embed_dim=16, num_heads=[1, 2], output_channels=[16, 32], stride_q=[[1, 1, 1], [1, 2, 2]],
             stride_kv=[[1, 4, 4], [1, 2, 2]], stochastic_depth_prob=0.0)
TABLES = ("rel_pos_h", "rel_pos_w", "rel_pos_t")


def saved_tiny_model(tmp_path, **overrides):
    model = MViTv2Model(MViTv2Config(**SIZES, num_frames=8, image_size=[64, 64], **overrides))
    model.save_pretrained(tmp_path)
    return model.state_dict()


def test_loading_at_the_same_size_keeps_tables_bit_for_bit(tmp_path):
    saved = saved_tiny_model(tmp_path)
    loaded = MViTv2Model.from_pretrained(tmp_path).state_dict()
    assert saved.keys() == loaded.keys()
    for key, value in saved.items():
        assert torch.equal(loaded[key], value), key


def test_loading_at_another_input_size_interpolates_relative_position_tables(tmp_path):
    saved = saved_tiny_model(tmp_path)
    model, info = MViTv2Model.from_pretrained(tmp_path, num_frames=16, image_size=[64, 96], output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    assert model.config.num_frames == 16 and model.config.image_size == [64, 96]
    built = MViTv2Model(MViTv2Config(**SIZES, num_frames=16, image_size=[64, 96])).state_dict()
    assert {k: v.shape for k, v in model.state_dict().items()} == {k: v.shape for k, v in built.items()}
    resized = 0
    for key, value in model.state_dict().items():
        if key.rsplit(".", 1)[-1] in TABLES:
            old = saved[key]
            assert value.shape[0] > old.shape[0]  # 8x64x64 -> 16x64x96 makes every table longer
            expected = torch.nn.functional.interpolate(old.t()[None], value.shape[0], mode="linear")[0].t()
            torch.testing.assert_close(value, expected, atol=0, rtol=0)
            resized += 1
        else:
            assert torch.equal(value, saved[key]), key
    assert resized == 3 * len(SIZES["num_heads"])
    output = model(torch.randn(1, 16, 3, 64, 96))
    assert output.token_grid == (8, 8, 12) and torch.isfinite(output.last_hidden_state).all()
    # The classification head, loaded from the base-model folder, takes the same path under the `mvitv2.` prefix.
    classifier, info = MViTv2ForVideoClassification.from_pretrained(tmp_path, num_frames=16, image_size=[64, 96],
                                                                     num_labels=3, output_loading_info=True)
    assert not info["mismatched_keys"] and set(info["missing_keys"]) == {"classifier.weight", "classifier.bias"}
    torch.testing.assert_close(classifier.mvitv2.blocks[0].attn.rel_pos_h, model.blocks[0].attn.rel_pos_h)
    # Plain `load_state_dict` resizes through the modules' pre-hooks.
    rebuilt = MViTv2Model(model.config)
    rebuilt.load_state_dict(saved)
    torch.testing.assert_close(rebuilt.blocks[1].attn.rel_pos_t, model.blocks[1].attn.rel_pos_t, atol=0, rtol=0)


def test_loading_at_another_input_size_interpolates_absolute_positions(tmp_path):
    saved = saved_tiny_model(tmp_path, rel_pos_embed=False)
    model, info = MViTv2Model.from_pretrained(tmp_path, num_frames=16, image_size=[64, 96], output_loading_info=True)
    assert not info["missing_keys"] and not info["mismatched_keys"]
    old = saved["pos_encoding.spatial_pos"].t().reshape(1, 16, 16, 16)
    expected = torch.nn.functional.interpolate(old, (16, 24), mode="bicubic", align_corners=False)
    torch.testing.assert_close(model.pos_encoding.spatial_pos, expected.reshape(16, -1).t(), atol=0, rtol=0)
    assert model.pos_encoding.temporal_pos.shape == (8, 16)
    assert torch.isfinite(model(torch.randn(1, 16, 3, 64, 96)).last_hidden_state).all()
