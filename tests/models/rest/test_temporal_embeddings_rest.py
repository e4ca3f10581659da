"""REST keeps a captioner's pretrained temporal embeddings (copied, or interpolated in time to another frame count)
and trains them at their own learning rate (train_rest.py --temporal_embedding_learning_rate)."""

import pytest
import torch
from transformers import BertTokenizer, CLIPImageProcessor, GitConfig, GitForCausalLM, GitProcessor

from hfvid.data.rest_videos import synthetic_tokenizers, tiny_synthetic_components
from hfvid.models.rest import RESTForVideoCaptioning
from hfvid.models.rest.modeling_rest import interpolate_temporal_embeddings, resize_temporal_embeddings
from hfvid.quickstart import load_training_script


def _git_temporal(model) -> torch.Tensor:
    return torch.cat([p.detach() for p in model.captioner.git.img_temporal_embedding])  # (T, 1, D)


def test_interpolate_temporal_embeddings_keeps_ends_and_is_linear():
    source = torch.tensor([[0.0, 10.0], [3.0, 40.0]])  # (T=2, D=2)
    assert torch.equal(interpolate_temporal_embeddings(source, 2), source)
    four = interpolate_temporal_embeddings(source, 4)
    torch.testing.assert_close(four, torch.tensor([[0.0, 10.0], [1.0, 20.0], [2.0, 30.0], [3.0, 40.0]]))
    torch.testing.assert_close(interpolate_temporal_embeddings(four, 2), source)  # back down: the ends stay
    assert torch.equal(interpolate_temporal_embeddings(source[:1], 3), source[:1].expand(3, 2))
    with pytest.raises(ValueError, match="num_frames"):
        interpolate_temporal_embeddings(source, 0)


def test_resize_state_dict_renumbers_git_list_and_resizes_blip_tensor():
    state = {"git.img_temporal_embedding.0": torch.zeros(1, 1, 3), "git.img_temporal_embedding.1": torch.ones(1, 1, 3),
             "temporal_embedding": torch.arange(2.0)[:, None, None].expand(2, 1, 3), "other.weight": torch.ones(2)}
    out = resize_temporal_embeddings(state, 3)
    assert sorted(out) == ["git.img_temporal_embedding.0", "git.img_temporal_embedding.1",
                           "git.img_temporal_embedding.2", "other.weight", "temporal_embedding"]
    torch.testing.assert_close(out["git.img_temporal_embedding.1"], torch.full((1, 1, 3), 0.5))
    torch.testing.assert_close(out["temporal_embedding"][:, 0, 0], torch.tensor([0.0, 0.5, 1.0]))
    assert out["other.weight"] is state["other.weight"]


@pytest.fixture
def tiny_video_git(tmp_path):
    """A tiny GIT video captioner (2 frames) saved with its processor, temporal embeddings clearly non-zero."""
    bert, _ = synthetic_tokenizers()
    tiny = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}
    config = GitConfig(**tiny, vocab_size=bert.vocab_size, bos_token_id=bert.cls_token_id,
                       eos_token_id=bert.sep_token_id, pad_token_id=bert.pad_token_id, max_position_embeddings=64,
                       num_image_with_embedding=2, vision_config={**tiny, "image_size": 16, "patch_size": 8})
    torch.manual_seed(0)
    git = GitForCausalLM(config)
    with torch.no_grad():
        for t, embedding in enumerate(git.git.img_temporal_embedding):
            embedding.copy_(torch.randn_like(embedding) + 3.0 * t)
    git.save_pretrained(tmp_path)
    image_processor = CLIPImageProcessor(size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16})
    GitProcessor(image_processor, BertTokenizer(vocab_file=_vocab_file(bert, tmp_path))).save_pretrained(tmp_path)
    return tmp_path, torch.cat(list(git.git.img_temporal_embedding)).detach()


def _vocab_file(tokenizer, folder):
    path = folder / "vocab.txt"
    path.write_text("\n".join(sorted(tokenizer.vocab, key=tokenizer.vocab.get)) + "\n")
    return str(path)


@pytest.mark.parametrize("num_frames", [None, 2, 4])
def test_pretrained_git_temporal_embeddings_arrive_in_the_rest_model(tiny_video_git, num_frames):
    path, source = tiny_video_git
    script = load_training_script("train_rest")
    argv = ["--model_name_or_path", str(path), "--train_dir", str(path), "--retrieved_dir", str(path),
            "--output_dir", str(path / "out")]
    args = script.parse_args(argv + (["--num_frames", str(num_frames)] if num_frames else []))
    model, processor = script.build_model(args)
    expected = source if num_frames in (None, 2) else interpolate_temporal_embeddings(source, num_frames)
    assert model.config.num_frames == len(expected) == processor.video_processor.num_frames
    assert _git_temporal(model).abs().min() > 0  # not re-initialised to zero
    torch.testing.assert_close(_git_temporal(model), expected)
    model.eval()
    ids = torch.tensor([[2, 6, 3]])
    assert model(torch.rand(1, len(expected), 3, 16, 16), input_ids=ids).logits.shape[:2] == (1, 3)


@pytest.mark.parametrize("captioner_type", ["git", "blip"])
def test_rest_checkpoint_keeps_trained_temporal_embeddings_on_load_and_frame_change(tmp_path, captioner_type):
    config, _ = tiny_synthetic_components(num_frames=2, image_size=16, hidden_size=32, layers=1,
                                          captioner_type=captioner_type)
    model = RESTForVideoCaptioning(config)
    with torch.no_grad():
        for parameter in model.temporal_embedding_parameters().values():
            parameter.copy_(torch.randn_like(parameter) + 1.0)
    before = {k: v.detach().clone() for k, v in model.temporal_embedding_parameters().items()}
    assert len(before) == (2 if captioner_type == "git" else 1)
    model.save_pretrained(tmp_path)
    loaded = RESTForVideoCaptioning.from_pretrained(tmp_path)
    for name, value in loaded.temporal_embedding_parameters().items():
        torch.testing.assert_close(value.detach(), before[name])  # _init_weights must not zero loaded weights

    three = loaded.eval().with_num_frames(3)
    assert three.config.num_frames == 3 and loaded.config.num_frames == 2
    expected = resize_temporal_embeddings(before, 3)
    assert three.temporal_embedding_parameters().keys() == expected.keys()
    for name, value in three.temporal_embedding_parameters().items():
        torch.testing.assert_close(value.detach(), expected[name])
    for name, value in loaded.state_dict().items():  # every other weight copied unchanged
        if name not in before:
            assert torch.equal(three.state_dict()[name], value), name
    ids = torch.tensor([[2, 6, 3]])
    assert three(torch.rand(1, 3, 3, 16, 16), input_ids=ids).logits.shape[:2] == (1, 3)


@pytest.mark.parametrize("captioner_type", ["git", "blip"])
def test_temporal_embedding_learning_rate_has_its_own_param_group(tmp_path, captioner_type):
    script = load_training_script("train_rest")
    argv = ["--dataset_name", "synthetic", "--retrieved_dir", str(tmp_path), "--output_dir", str(tmp_path),
            "--captioner_type", captioner_type, "--num_frames", "2", "--learning_rate", "1e-5"]
    args = script.parse_args(argv + ["--temporal_embedding_learning_rate", "1e-4"])
    model, _ = script.build_model(args)
    groups = script.optimizer_param_groups(model, args)
    temporal = {id(p) for p in model.temporal_embedding_parameters().values()}
    assert len(groups) == 2 and [g["lr"] for g in groups] == [1e-5, 1e-4]
    assert {id(p) for p in groups[1]["params"]} == temporal and len(groups[1]["params"]) == len(temporal)
    assert {id(p) for p in groups[0]["params"]} == {id(p) for p in model.parameters()} - temporal
    optimizer = torch.optim.AdamW(groups, lr=args.learning_rate)
    assert [g["lr"] for g in optimizer.param_groups] == [1e-5, 1e-4]

    default = script.optimizer_param_groups(model, script.parse_args(argv))  # no flag: one group, one rate
    assert len(default) == 1 and default[0]["lr"] == 1e-5 and len(default[0]["params"]) == len(list(model.parameters()))
    with pytest.raises(ValueError, match="temporal_embedding_learning_rate"):
        script.parse_args(argv + ["--temporal_embedding_learning_rate", "-1"])
