"""Shared test setup: offline hub, one thread per process, a fixed seed per test, `model_tester` importable, tiny model configs."""

import os
import sys
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Tiny test models run fastest on one thread, and two threads per process oversubscribe 2 cores as soon as a test
# starts `accelerate launch` ranks (measured: up to 40x slower). Subprocesses inherit the variable.
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
TESTS_DIR = str(Path(__file__).parent)
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)  # `from model_tester import ModelTester`


@pytest.fixture(autouse=True)
def _seed_torch():
    """Every test starts from the same torch RNG state."""
    torch.manual_seed(0)


@pytest.fixture
def tiny_fan_config():
    """A 2-stack, 32-channel SH-FAN on 64x64 crops with 68 iBUG points (group norm: stable with tiny batches)."""
    from hfvid import SubpixelFANConfig

    return SubpixelFANConfig(
        num_stacks=2, hidden_size=32, hourglass_depth=2, image_size=64, heatmap_size=16, num_landmarks=68,
        norm_type="group",
    )
