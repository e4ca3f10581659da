"""Shared fixtures of the hfvid.training tests."""

import pytest
from accelerate.state import AcceleratorState, GradientState


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    """Each in-process run builds its own Accelerator; forget the singletons of the previous one."""
    yield
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
