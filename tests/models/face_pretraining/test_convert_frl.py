"""The FRL release layout (torchvision ResNet under `module.base_net.`) converts exactly onto transformers' ResNet."""

import pytest
import torch
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

from hfvid import FaceRepresentationForSwAVPreTraining, FaceRepresentationModel
from hfvid.models.face_pretraining.convert_frl_to_hfvid import convert, convert_frl_state_dict, load_converted_model


pytestmark = pytest.mark.usefixtures("one_thread")


def random_reference(block, layers):
    """A random torchvision ResNet with non-trivial BN statistics (so a BN mix-up cannot pass)."""
    torch.manual_seed(0)
    model = ResNet(block, layers, num_classes=7)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.normal_()
            module.bias.data.normal_()
    return model.eval()


def release_state_dict(reference, head=True):
    state = {f"module.base_net.{k}": v for k, v in reference.state_dict().items()}
    if head:
        width = reference.fc.in_features
        state.update({"module.projection_net.0.weight": torch.randn(16, width), "module.projection_net.0.bias":
                      torch.randn(16), "module.projection_net.1.weight": torch.rand(16),
                      "module.projection_net.1.bias": torch.randn(16), "module.projection_net.1.running_mean":
                      torch.randn(16), "module.projection_net.1.running_var": torch.rand(16) + 0.5,
                      "module.projection_net.1.num_batches_tracked": torch.tensor(3),
                      "module.projection_net.3.weight": torch.randn(8, 16), "module.projection_net.3.bias":
                      torch.randn(8), "module.prototypes.weight": torch.randn(5, 8)})
    return {"state_dict": state, "epoch": 1}


@pytest.mark.parametrize("block,layers", [(BasicBlock, [1, 1, 1, 1]), (Bottleneck, [1, 2, 1, 1])], ids=["basic", "bottleneck"])
def test_backbone_matches_torchvision_reference(block, layers):
    reference = random_reference(block, layers)
    config, state, dropped = convert_frl_state_dict(release_state_dict(reference))
    assert config.depths == layers and config.layer_type == ("basic" if block is BasicBlock else "bottleneck")
    assert "base_net.fc.weight" in dropped and "prototypes.weight" in dropped
    model = load_converted_model(config, state)
    assert isinstance(model, FaceRepresentationModel)
    reference.fc = torch.nn.Identity()
    pixels = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(pixels).pooler_output, reference(pixels), atol=1e-5, rtol=1e-5)


def test_swav_head_conversion_and_round_trip(tmp_path):
    reference = random_reference(BasicBlock, [1, 1, 1, 1])
    checkpoint = tmp_path / "flr_tiny.pth"
    torch.save(release_state_dict(reference), checkpoint)
    model, dropped = convert(checkpoint, tmp_path / "out", with_swav_head=True)
    assert isinstance(model, FaceRepresentationForSwAVPreTraining)
    assert dropped == ["base_net.fc.bias", "base_net.fc.weight"]
    assert model.config.num_prototypes == 5 and model.config.projection_hidden_size == 16
    assert (tmp_path / "out" / "README.md").is_file() and (tmp_path / "out" / "preprocessor_config.json").is_file()
    reloaded = FaceRepresentationForSwAVPreTraining.from_pretrained(tmp_path / "out")
    for key, value in model.state_dict().items():
        assert torch.equal(value, reloaded.state_dict()[key]), key  # bit-exact


def test_bad_checkpoints_fail_clearly():
    with pytest.raises(ValueError, match="conv1.weight"):
        convert_frl_state_dict({"state_dict": {"module.base_net.layer1.0.conv1.weight": torch.zeros(1)}})
    with pytest.raises(ValueError, match="prototypes"):
        convert_frl_state_dict(release_state_dict(random_reference(BasicBlock, [1, 1, 1, 1]), head=False),
                               with_swav_head=True)
    config, state, _ = convert_frl_state_dict(release_state_dict(random_reference(BasicBlock, [1, 1, 1, 1])))
    state.pop(next(iter(state)))
    with pytest.raises(ValueError, match="missing"):
        load_converted_model(config, state)
