"""Checkpoints of a model holding a PEFT adapter store only what training changes, and resume exactly."""

from __future__ import annotations

import pytest
import torch
from accelerate import Accelerator
from peft import LoraConfig, get_peft_model
from safetensors.torch import load_file

from hfvid.training import register_pretrained_hooks


class Base(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Linear(8, 8)
        self.head = torch.nn.Linear(8, 2)

    def forward(self, x):
        return self.head(self.encoder(x).relu())


class Learner(torch.nn.Module):
    """A training wrapper like the prompt learner's: a PEFT model plus a trainable part and a buffer of its own."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.peft_model = get_peft_model(Base(), LoraConfig(r=2, target_modules=["encoder"]))
        self.scale = torch.nn.Parameter(torch.ones(()))
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, x):
        return self.scale * self.peft_model(x)


def train_step(accelerator, learner, optimizer):
    loss = learner(torch.randn(4, 8)).pow(2).mean()
    accelerator.backward(loss)
    optimizer.step()
    optimizer.zero_grad()


def test_checkpoint_skips_frozen_base_and_resumes_exactly(tmp_path):
    accelerator = Accelerator(cpu=True)
    register_pretrained_hooks(accelerator)
    learner = Learner()
    optimizer = torch.optim.SGD([p for p in learner.parameters() if p.requires_grad], lr=0.1)
    learner, optimizer = accelerator.prepare(learner, optimizer)
    train_step(accelerator, learner, optimizer)
    learner.calls += 3
    accelerator.save_state(str(tmp_path))
    expected = {k: v.clone() for k, v in learner.state_dict().items()}

    stored = load_file(tmp_path / "trainable_state_0.safetensors")
    assert not (tmp_path / "model.safetensors").exists()
    assert "scale" in stored and "calls" in stored and any("lora_A" in k for k in stored)
    assert not any("base_layer" in k or k.endswith("head.weight") for k in stored), sorted(stored)

    with torch.no_grad():  # disturb everything training changes, then restore it
        for name, parameter in learner.named_parameters():
            if parameter.requires_grad:
                parameter.add_(1.0)
        learner.calls.zero_()
    accelerator.load_state(str(tmp_path))
    for name, value in learner.state_dict().items():
        assert torch.equal(value, expected[name]), name


def test_checkpoint_from_another_model_is_a_clear_error(tmp_path):
    accelerator = Accelerator(cpu=True)
    register_pretrained_hooks(accelerator)
    accelerator.prepare(Learner())
    accelerator.save_state(str(tmp_path))
    state = load_file(tmp_path / "trainable_state_0.safetensors")
    state.pop("scale")
    from safetensors.torch import save_file

    save_file(state, tmp_path / "trainable_state_0.safetensors")
    with pytest.raises(ValueError, match="missing trainable keys.*scale"):
        accelerator.load_state(str(tmp_path))
