"""``extra_state`` of the shared loop: modules outside the optimised ones checkpointed as safetensors, never
pickled, restored bit for bit (parameters, buffers, tied weights), with clear errors for bad names and absent files."""

import pytest
import torch

from hfvid.training.checkpointing import extra_state_file, load_extra_state, save_extra_state


class Tied(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(5, 3)
        self.head = torch.nn.Linear(3, 5, bias=False)
        self.head.weight = self.embed.weight  # shared storage: safetensors' save_file alone would refuse it
        self.norm = torch.nn.BatchNorm1d(3)


def test_round_trip_is_exact_and_in_place(tmp_path):
    torch.manual_seed(0)
    source = Tied()
    source.norm.running_mean.uniform_()  # a buffer, not a parameter
    save_extra_state(tmp_path, {"ema": source})
    assert (tmp_path / "ema.safetensors").is_file() and not list(tmp_path.glob("*.pkl"))

    target = Tied()
    weight = target.embed.weight
    load_extra_state(tmp_path, {"ema": target})
    assert target.embed.weight is weight and target.head.weight is target.embed.weight  # in place, still tied
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key


def test_bad_names_and_missing_files(tmp_path):
    for name in ("model", "model_1", "trainable_state_0", "../ema", "ema.pt", 3):
        with pytest.raises(ValueError, match="extra_state name"):
            extra_state_file(tmp_path, name)
    with pytest.raises(FileNotFoundError, match="ema.safetensors"):
        load_extra_state(tmp_path, {"ema": Tied()})
    save_extra_state(tmp_path, {"ema": torch.nn.Linear(3, 3)})
    with pytest.raises(RuntimeError):  # strict: a module of another shape is refused, not half-loaded
        load_extra_state(tmp_path, {"ema": Tied()})
