"""``hfvid quickstart``: every implemented method end to end on built-in synthetic data, on the CPU.

For each method: train a tiny model through the method's own training script (its ``main(parse_args(argv))``, an
Accelerate run), reload the saved folder with ``from_pretrained`` inside a ``pipeline()``, evaluate the pipeline's
outputs with the method's metric on held-out synthetic data, check the rendered model card, and report one row.
Each recipe also saves a picture (``quickstart.png`` in its output folder, drawn with :mod:`hfvid.visualize`: landmarks
on faces, a synthesised sequence, a detection frame, affect curves or the training loss curve) after its numbers are
computed, so the pictures never change the table.
A method joins by naming its recipe (``hfvid/quickstart/<name>.py:run``) in ``hfvid/registration.py``. The recipes
live here, not in the model folders, because they run training scripts and pipelines: model code never does.
"""

import importlib.util
import sys
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
    picture: str | None = None  # a PNG of the method's result (or loss curve) in its output folder


PICTURE_NAME = "quickstart.png"


def save_picture(output_dir, draw) -> str | None:
    """Save ``draw()`` (a PIL image, e.g. from :mod:`hfvid.visualize`) as ``<output_dir>/quickstart.png``.

    Returns the path, or ``None`` (with a note) when a plotting dependency (matplotlib) is missing: the picture is
    a by-product and never fails a recipe whose numbers are already computed.
    """
    try:
        image = draw()
    except ImportError as error:
        print(f"hfvid quickstart: no picture in {output_dir} ({error}; pip install matplotlib)")
        return None
    path = Path(output_dir) / PICTURE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, optimize=True)
    return str(path)


def loss_picture(output_dir, history, title: str) -> str | None:
    """The training loss curve of a recipe (its history's ``losses``) as the recipe's picture."""
    from ..visualize import plot_loss_curve

    return save_picture(output_dir, lambda: plot_loss_curve(history, title=f"{title}: training loss"))


def training_script_path(name: str) -> Path:
    """``training_scripts/<name>.py``: shipped inside the wheel (``hfvid/training_scripts``) or in a source checkout."""
    package_dir = Path(__file__).resolve().parent.parent  # hfvid/
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


def recipes() -> dict:
    """method name -> recipe path ``"module:function"`` (a ``(output_dir, steps) -> QuickstartRow`` callable)."""
    from ..registration import METHODS

    return {method.name: method.quickstart for method in METHODS if method.quickstart}


def format_table(rows: list[QuickstartRow]) -> str:
    header = ["method", "steps", "loss first -> last", "metric", "output folder", "time", "picture"]
    lines = [[r.method, str(r.steps), f"{r.first_loss:.4g} -> {r.last_loss:.4g}", r.metric, r.output_dir,
              f"{r.seconds:.0f}s", r.picture or "-"] for r in rows]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    render = lambda row: "| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths)) + " |"  # noqa: E731
    return "\n".join([render(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(render, lines)])


def run_quickstart(methods: list[str] | None = None, output_dir: str = "hfvid-quickstart", steps: int | None = None):
    """Run the recipes of ``methods`` (default: all) and return their rows."""
    available = recipes()
    unknown = sorted(set(methods or []) - set(available))
    if unknown:
        raise ValueError(f"unknown methods {unknown}; available: {sorted(available)}")
    import torch

    from ..registration import load_object

    # Every recipe trains a tiny model: a second intra-op thread gains nothing, and on a busy CPU its spin-waits
    # made recipes 10-60x slower (measured: face pre-training 651 s with 2 threads vs 10 s with 1).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return [load_object(available[name])(Path(output_dir), steps) for name in methods or list(available)]
    finally:
        torch.set_num_threads(threads)


__all__ = ["PICTURE_NAME", "QuickstartRow", "format_table", "load_training_script", "loss_picture", "recipes",
           "run_quickstart", "save_picture", "training_script_path"]
