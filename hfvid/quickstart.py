"""``hfvid quickstart``: every implemented method end to end on built-in synthetic data, on the CPU.

For each method: train a tiny model through the method's own training script (its ``main(parse_args(argv))``, an
Accelerate run), reload the saved folder with ``from_pretrained`` inside a ``pipeline()``, evaluate the pipeline's
outputs with the method's metric on held-out synthetic data, check the rendered model card, and report one row.
A method is added here with one recipe function in ``RECIPES``.
"""

import importlib.util
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class QuickstartRow:
    method: str
    steps: int
    first_loss: float
    last_loss: float
    metric: str
    output_dir: str
    seconds: float


def training_script_path(name: str) -> Path:
    """``training_scripts/<name>.py``: shipped inside the wheel (``hfvid/training_scripts``) or in a source checkout."""
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir / "training_scripts" / f"{name}.py", package_dir.parent / "training_scripts" / f"{name}.py"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"training script {name}.py not found in {package_dir / 'training_scripts'} "
                            f"or {package_dir.parent / 'training_scripts'}")


def load_training_script(name: str):
    """Import a training script as a module (it exposes ``parse_args(argv)`` and ``main(args)``)."""
    path = training_script_path(name)
    spec = importlib.util.spec_from_file_location(f"hfvid_training_script_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def run_subpixel_fan(output_dir: Path, steps: int | None = None) -> QuickstartRow:
    """SH-FAN on synthetic 68-point faces; metric: inter-ocular NME of the pipeline on held-out faces."""
    import numpy as np
    from transformers import pipeline

    from .data.synthetic import synthetic_faces
    from .metrics.landmarks import landmark_metrics

    start = time.time()
    out = output_dir / "subpixel_fan"
    script = load_training_script("train_subpixel_fan")
    argv = [
        "--dataset_name", "synthetic", "--output_dir", str(out), "--cpu",
        "--config_overrides", "num_stacks=1,hidden_size=64,hourglass_depth=2,image_size=64,heatmap_size=16,"
                              "norm_type=group",
        "--max_train_steps", str(steps or 400), "--per_device_train_batch_size", "16", "--learning_rate", "3e-3",
        "--rotation", "15", "--scale_range", "0.9", "1.1",
        "--synthetic_train_samples", "512", "--synthetic_eval_samples", "64", "--logging_steps", "50",
    ]
    history = script.main(script.parse_args(argv))["history"]

    pipe = pipeline("hfvid-facial-landmarks", model=str(out), device="cpu")
    faces = synthetic_faces(32, image_size=128, seed=10_000)
    results = pipe([face["image"] for face in faces], boxes=[[face["box"].tolist()] for face in faces], batch_size=16)
    predictions = np.array([result[0]["landmarks"] for result in results])
    references = np.stack([face["landmarks"] for face in faces])
    nme = landmark_metrics(predictions, references, normalization="inter_ocular")["nme"]
    if not (out / "README.md").is_file():
        raise RuntimeError(f"the training script did not render a model card in {out}")
    return QuickstartRow("subpixel_fan", history["global_step"], history["first_loss"], history["last_loss"],
                         f"NME(inter-ocular) {nme:.2f}%", str(out), time.time() - start)


RECIPES = {"subpixel_fan": run_subpixel_fan}


def format_table(rows: list[QuickstartRow]) -> str:
    header = ["method", "steps", "loss first -> last", "metric", "output folder", "time"]
    lines = [[r.method, str(r.steps), f"{r.first_loss:.4g} -> {r.last_loss:.4g}", r.metric, r.output_dir,
              f"{r.seconds:.0f}s"] for r in rows]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    render = lambda row: "| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths)) + " |"  # noqa: E731
    return "\n".join([render(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(render, lines)])


def run_quickstart(methods: list[str] | None = None, output_dir: str = "hfvid-quickstart", steps: int | None = None):
    """Run the recipes of ``methods`` (default: all) and return their rows."""
    unknown = sorted(set(methods or []) - set(RECIPES))
    if unknown:
        raise ValueError(f"unknown methods {unknown}; available: {sorted(RECIPES)}")
    rows = []
    for name in methods or list(RECIPES):
        rows.append(RECIPES[name](Path(output_dir), steps))
    return rows


__all__ = ["RECIPES", "QuickstartRow", "format_table", "load_training_script", "run_quickstart", "training_script_path"]
