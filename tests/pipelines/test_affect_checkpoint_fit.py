"""Issue 15: `hfvid-au-intensity` / `hfvid-affect` refuse, at construction, checkpoints that do not fit the task
(valence/arousal models in the AU pipeline, AU models in the affect pipeline, Contrastive AU stage-1 pre-training
checkpoints whose AU head was never trained), naming the model class, its outputs and the right task."""

import numpy as np
import pytest
import torch
from transformers import pipeline

from hfvid import AffectiveProcessConfig, AffectiveProcessForAffectEstimation, AffectiveProcessVideoProcessor
from hfvid.models.contrastive_au import ContrastiveAUConfig, ContrastiveAUForAUIntensity, ContrastiveAUForPreTraining

BACKBONE = {"embedding_size": 8, "hidden_sizes": [16], "depths": [1], "layer_type": "basic"}
AU_NAMES = ["AU01", "AU06", "AU12"]


def _save(path, model):
    model.save_pretrained(path)
    AffectiveProcessVideoProcessor(size={"height": 32, "width": 32}).save_pretrained(path)
    return str(path)


def _affective_process(path, **overrides):
    config = AffectiveProcessConfig(backbone_config=BACKBONE, feature_proj_dim=16, label_embed_dim=8,
                                    encoder_hidden_sizes=[16, 16], latent_hidden_size=16, latent_dim=4,
                                    decoder_hidden_sizes=[16], image_size=32, window_size=16, window_stride=8,
                                    **overrides)
    torch.manual_seed(0)
    return _save(path, AffectiveProcessForAffectEstimation(config))


def _contrastive(path, model_class):
    config = ContrastiveAUConfig(image_size=32, backbone_config=BACKBONE, temporal_hidden_size=16, embedding_dim=8,
                                 projection_hidden_size=16, num_aus=3, au_names=AU_NAMES, chunk_size=5)
    torch.manual_seed(0)
    return _save(path, model_class(config))


def test_wrong_checkpoints_are_refused_at_construction(tmp_path):
    va = _affective_process(tmp_path / "va")
    with pytest.raises(ValueError, match=r"AffectiveProcessForAffectEstimation predicts \['valence', 'arousal'\]"
                                         r".*hfvid-affect"):
        pipeline("hfvid-au-intensity", model=va)
    au = _affective_process(tmp_path / "au", num_outputs=3, output_names=AU_NAMES, output_range=[0.0, 5.0])
    with pytest.raises(ValueError, match=r"predicts action units \['AU01', 'AU06', 'AU12'\].*hfvid-au-intensity"):
        pipeline("hfvid-affect", model=au)
    stage1 = _contrastive(tmp_path / "stage1", ContrastiveAUForPreTraining)
    for task in ("hfvid-au-intensity", "hfvid-affect"):
        with pytest.raises(ValueError, match="saved by ContrastiveAUForPreTraining .pre-training.*untrained"):
            pipeline(task, model=stage1)


def test_fitting_checkpoints_still_load_and_run(tmp_path):
    frames = list(np.random.default_rng(0).integers(0, 255, (6, 32, 32, 3), dtype=np.uint8))
    boxes = [[0, 0, 31, 31]] * 6
    assert "valence" in pipeline("hfvid-affect", model=_affective_process(tmp_path / "va"))(frames, boxes=boxes)[0]
    au = _affective_process(tmp_path / "au", num_outputs=3, output_names=AU_NAMES, output_range=[0.0, 5.0])
    assert "AU06" in pipeline("hfvid-au-intensity", model=au)(frames, boxes=boxes)[0]
    stage2 = _contrastive(tmp_path / "stage2", ContrastiveAUForAUIntensity)
    assert "AU12" in pipeline("hfvid-au-intensity", model=stage2)(frames, boxes=boxes)[0]
