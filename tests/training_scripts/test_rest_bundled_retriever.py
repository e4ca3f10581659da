"""train_rest.py --retriever_name_or_path bundles the CLIP: the zero-shot model reloads with no missing weights."""

import torch
from test_rest_scripts import COMMON, _pool_and_index
from transformers import CLIPConfig, CLIPModel

from hfvid.models.rest import RESTForZeroShotVideoClassification
from hfvid.quickstart import load_training_script


def test_bundled_retriever_reloads_with_its_weights(tmp_path):
    retrieved = _pool_and_index(tmp_path)
    tiny = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32}
    torch.manual_seed(1)
    clip = CLIPModel(CLIPConfig(projection_dim=8, text_config={**tiny, "vocab_size": 99},
                                vision_config={**tiny, "image_size": 16, "patch_size": 8}))
    clip.save_pretrained(tmp_path / "clip")
    train = load_training_script("train_rest")
    train.main(train.parse_args([
        *COMMON, "--retrieved_dir", str(retrieved), "--output_dir", str(tmp_path / "model"), "--num_frames", "2",
        "--max_train_steps", "1", "--per_device_train_batch_size", "4", "--synthetic_eval_videos", "4",
        "--config_overrides", "hidden_size=32,layers=1,image_size=16", "--retriever_name_or_path",
        str(tmp_path / "clip")]))
    model, info = RESTForZeroShotVideoClassification.from_pretrained(tmp_path / "model", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    assert model.config.scoring == "text_similarity"
    for name, value in clip.state_dict().items():
        torch.testing.assert_close(model.retriever.state_dict()[name], value, rtol=0, atol=0)
