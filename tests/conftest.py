"""Shared test setup: offline hub, one thread per process, a fixed seed per test, `model_tester` importable, tiny model configs."""

import os
import socket
import subprocess
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
ROOT = Path(__file__).resolve().parents[1]
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)  # `from model_tester import ModelTester`


@pytest.fixture(autouse=True)
def _seed_torch():
    """Every test starts from the same torch RNG state."""
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def one_thread():
    """Torch on one thread for a module (tiny convolutions are far faster so on a shared CPU), restored after;
    ``OMP_NUM_THREADS=1`` too, for the subprocesses a module starts (offline loads, ``accelerate launch``).

    Use as ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")
        yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_fan_config():
    """A 2-stack, 32-channel SH-FAN on 64x64 crops with 68 iBUG points (group norm: stable with tiny batches)."""
    from hfvid import SubpixelFANConfig

    return SubpixelFANConfig(
        num_stacks=2, hidden_size=32, hourglass_depth=2, image_size=64, heatmap_size=16, num_landmarks=68,
        norm_type="group",
    )


def find_free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (for `--main_process_port` and local servers)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def free_port() -> int:
    """A port free at the start of the test."""
    return find_free_port()


@pytest.fixture
def launch_script():
    """`launch_script(script, *args, num_processes=1, env=None, timeout=300)` runs `script` (a name in
    training_scripts/, with or without ".py", or a path) under `accelerate launch` on CPU and returns the finished
    CompletedProcess (text stdout/stderr). One process uses `--cpu`; more use `--multi_gpu` with
    ACCELERATE_USE_CPU=true, the only form that gives cooperating CPU ranks. A non-zero exit fails the test with
    the command and the end of stderr."""

    def launch(script, *args, num_processes: int = 1, env: dict | None = None, timeout: float = 300):
        path = Path(script)
        if not path.is_absolute():
            path = ROOT / "training_scripts" / (path.name if path.suffix == ".py" else f"{path.name}.py")
        if not path.is_file():
            raise FileNotFoundError(f"launch_script: no script {path} (from {script!r})")
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])), **(env or {})}
        processes = ["--cpu"] if num_processes == 1 else ["--multi_gpu"]
        if num_processes > 1:
            env["ACCELERATE_USE_CPU"] = "true"
        command = [sys.executable, "-m", "accelerate.commands.launch", *processes, "--num_processes",
                   str(num_processes), "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                   "--main_process_port", str(find_free_port()), str(path), *map(str, args)]  # fmt: skip
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            pytest.fail(f"exit {result.returncode}: {' '.join(command)}\n{result.stderr[-4000:]}", pytrace=False)
        return result

    return launch
