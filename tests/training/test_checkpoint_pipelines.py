"""Intermediate checkpoints are pipeline-loadable folders: ``checkpoints/step_N/<ClassName>/`` holds the processor."""

import ast
from pathlib import Path

import numpy as np
from transformers import pipeline

from hfvid.quickstart import load_training_script

ROOT = Path(__file__).resolve().parents[2]
TINY = "num_stacks=1,hidden_size=16,hourglass_depth=2,image_size=64,heatmap_size=16,norm_type=group"


def test_a_checkpoint_folder_loads_in_its_pipeline(tmp_path):
    script = load_training_script("train_subpixel_fan")
    run = tmp_path / "run"
    script.main(script.parse_args([
        "--dataset_name", "synthetic", "--output_dir", str(run), "--config_overrides", TINY,
        "--max_train_steps", "2", "--checkpointing_steps", "1", "--per_device_train_batch_size", "4",
        "--synthetic_train_samples", "8", "--synthetic_eval_samples", "4", "--synthetic_image_size", "96",
        "--learning_rate", "1e-3", "--lr_scheduler_type", "constant", "--cpu"]))
    image, boxes = np.random.default_rng(0).integers(0, 255, (96, 96, 3), dtype=np.uint8), [[20, 20, 70, 75]]
    final = pipeline("hfvid-facial-landmarks", model=str(run))(image, boxes=boxes)
    for step in (1, 2):
        folders = [p for p in (run / "checkpoints" / f"step_{step}").iterdir() if (p / "config.json").is_file()]
        assert len(folders) == 1, folders
        assert (folders[0] / "preprocessor_config.json").is_file()
        faces = pipeline("hfvid-facial-landmarks", model=str(folders[0]))(image, boxes=boxes)
        assert len(faces) == 1 and len(faces[0]["landmarks"]) == 68
    np.testing.assert_allclose(faces[0]["landmarks"], final[0]["landmarks"], atol=1e-4)  # step 2 is the final model


def test_every_training_script_gives_the_loop_its_processor():
    """A new script that forgets ``processor=`` (to ``prepare_training`` or ``TrainingLoop``) would write checkpoints
    no pipeline can load."""
    exempt = {
        ("train_bayesian_prompt.py", "main"),  # its loop trains a PEFT wrapper: checkpoints hold only the adapter
        ("train_affective_process.py", "train_backbone"),  # stage 1 trains a sub-module, not a pipeline model
    }
    calls = 0
    for script in sorted((ROOT / "training_scripts").glob("*.py")):
        for function in ast.parse(script.read_text()).body:
            for node in ast.walk(function):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("TrainingLoop", "prepare_training"):
                    calls += 1
                    if (script.name, getattr(function, "name", None)) not in exempt:
                        assert "processor" in {k.arg for k in node.keywords}, f"{script.name}:{node.lineno}"
    assert calls >= 10
