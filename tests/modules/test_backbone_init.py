"""Pretrained starts of the face-video backbones (`backbone_init`): the weights arrive, wrong sources are named."""

import pytest
import torch
from transformers import ResNetConfig, ResNetForImageClassification, ResNetModel

from hfvid.models.affective_process import AffectiveProcessConfig, AffectiveProcessForAffectEstimation
from hfvid.models.contrastive_au import ContrastiveAUConfig, ContrastiveAUForAUIntensity, ContrastiveAUForPreTraining
from hfvid.modules.backbone_init import load_backbone_init, torchvision_resnet_to_transformers

TINY = {"embedding_size": 8, "hidden_sizes": [16, 32], "depths": [1, 1], "layer_type": "basic"}
RESNET18 = {"embedding_size": 64, "hidden_sizes": [64, 128, 256, 512], "depths": [2, 2, 2, 2], "layer_type": "basic"}
CAU_HEADS = {"temporal_hidden_size": 8, "embedding_dim": 8, "projection_hidden_size": 8, "image_size": 32}


def cau(backbone_init, backbone=TINY, cls=ContrastiveAUForAUIntensity):
    return cls(ContrastiveAUConfig(backbone_config=backbone, backbone_init=backbone_init, **CAU_HEADS))


def assert_same_tensors(model_backbone, source_state):
    own = model_backbone.state_dict()
    assert set(own) == set(source_state)
    for key, tensor in own.items():
        assert torch.equal(tensor, source_state[key]), key


@pytest.fixture(scope="module")
def resnet_checkpoint(tmp_path_factory):
    """A tiny transformers ResNetForImageClassification saved to a folder (the microsoft/resnet-* layout)."""
    torch.manual_seed(123)  # not the per-test seed, so a random model differs
    model = ResNetForImageClassification(ResNetConfig(**TINY, num_labels=3))
    path = tmp_path_factory.mktemp("resnet")
    model.save_pretrained(path)
    return path, model.resnet.state_dict()


@pytest.fixture(scope="module")
def torchvision_resnet18():
    """A randomly initialised torchvision resnet18 with non-trivial batch-norm statistics, in eval mode."""
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(1)
    model = torchvision.models.resnet18(weights=None).eval()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return model


def test_transformers_checkpoint_weights_arrive_in_both_models(resnet_checkpoint):
    path, state = resnet_checkpoint
    for cls in (ContrastiveAUForAUIntensity, ContrastiveAUForPreTraining):
        assert_same_tensors(cau(str(path), cls=cls).contrastive_au.frame_encoder.backbone, state)
    config = AffectiveProcessConfig(backbone_config=TINY, backbone_init=str(path), image_size=32,
                                    feature_proj_dim=8, label_embed_dim=4, encoder_hidden_sizes=[8],
                                    decoder_hidden_sizes=[8], latent_hidden_size=8, latent_dim=4)
    model = AffectiveProcessForAffectEstimation(config)
    assert_same_tensors(model.affective_process.frame_encoder.backbone, state)


def test_random_is_the_default_and_differs(resnet_checkpoint):
    path, state = resnet_checkpoint
    model = cau("random")
    assert model.config.backbone_init == "random"
    assert not torch.equal(model.contrastive_au.frame_encoder.backbone.embedder.embedder.convolution.weight,
                           state["embedder.embedder.convolution.weight"])


def test_from_pretrained_keeps_the_checkpoint_weights_without_reading_the_source(resnet_checkpoint, tmp_path):
    path, _ = resnet_checkpoint
    model = cau(str(path))
    with torch.no_grad():
        model.contrastive_au.frame_encoder.backbone.embedder.embedder.convolution.weight.add_(1.0)  # "trained"
    model.save_pretrained(tmp_path / "trained")
    moved = str(path) + "_gone"  # the saved config names a source that no longer exists
    loaded = ContrastiveAUForAUIntensity.from_pretrained(tmp_path / "trained", backbone_init=moved)
    assert loaded.config.backbone_init == moved
    assert_same_tensors(loaded.contrastive_au.frame_encoder.backbone,
                        model.contrastive_au.frame_encoder.backbone.state_dict())


def test_face_pretraining_checkpoint_weights_arrive(tmp_path):
    from hfvid.models.face_pretraining import FaceRepresentationConfig, FaceRepresentationModel

    torch.manual_seed(2)
    frl = FaceRepresentationModel(FaceRepresentationConfig(**TINY))
    frl.save_pretrained(tmp_path)
    assert_same_tensors(cau(str(tmp_path)).contrastive_au.frame_encoder.backbone, frl.resnet.state_dict())
    with pytest.raises(ValueError, match=r"hidden_sizes: \[16, 32\] in the source, \[16, 64\] in the model"):
        cau(str(tmp_path), backbone={**TINY, "hidden_sizes": [16, 64]})


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_torchvision_state_dict_gives_torchvision_features(torchvision_resnet18, tmp_path, suffix):
    file = tmp_path / f"resnet18{suffix}"
    if suffix == ".pth":
        torch.save(torchvision_resnet18.state_dict(), file)
    else:
        from safetensors.torch import save_file

        save_file(torchvision_resnet18.state_dict(), str(file))
    model = cau(f"torchvision:{file}", backbone=RESNET18)
    assert all(module.training for module in model.modules())  # loading in place keeps the train/eval mode
    model.eval()
    frames = torch.randn(1, 2, 3, 32, 32)
    with torch.no_grad():
        features, _ = model.contrastive_au.frame_encoder(frames)
        expected = torch.flatten(torchvision_resnet18.avgpool(
            torch.nn.Sequential(*list(torchvision_resnet18.children())[:-2])(frames[0])), 1)
    torch.testing.assert_close(features[0], expected, atol=1e-5, rtol=1e-5)


def test_torchvision_mapping_refuses_other_state_dicts(torchvision_resnet18, tmp_path):
    state = torchvision_resnet18.state_dict()
    mapped = torchvision_resnet_to_transformers(state)
    assert "fc.weight" not in mapped and len(mapped) == len(state) - 2
    with pytest.raises(ValueError, match="keys with no ResNet counterpart.*classifier.weight"):
        torchvision_resnet_to_transformers({**state, "classifier.weight": torch.zeros(1)})
    bottleneck = ResNetModel(ResNetConfig(layer_type="bottleneck", depths=[1, 1, 1, 1]))  # torchvision's layout
    torch.save({"state_dict": {"module." + k: v for k, v in state.items()}}, tmp_path / "resnet18.pth")
    with pytest.raises(ValueError, match="does not fit the model's backbone: missing"):
        load_backbone_init(bottleneck, f"torchvision:{tmp_path / 'resnet18.pth'}")


def test_bad_backbone_init_values_raise(resnet_checkpoint, tmp_path):
    path, _ = resnet_checkpoint
    for value, message in [("", "backbone_init must be"), ("torchvision:vgg16", "one of .*resnet18"),
                           (str(tmp_path / "missing.pth"), "neither 'random'")]:
        with pytest.raises(ValueError, match=message):
            cau(value)
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        cau(f"torchvision:{tmp_path / 'missing.pth'}")
    with pytest.raises(ValueError, match=r"depths: \[1, 1\] in the source, \[2, 1\] in the model"):
        cau(str(path), backbone={**TINY, "depths": [2, 1]})
    with pytest.raises(ValueError, match="downsample_in_bottleneck: False in the source, True in the model"):
        load_backbone_init(ResNetModel(ResNetConfig(**RESNET18, downsample_in_bottleneck=True)),
                           f"torchvision:{tmp_path / 'x.pth'}")
    cau("random").save_pretrained(tmp_path / "cau")
    with pytest.raises(ValueError, match="'hfvid-contrastive-au' checkpoint; expected a transformers ResNet"):
        cau(str(tmp_path / "cau"))
