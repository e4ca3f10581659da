"""``hfvid quickstart`` recipe of FRL: SwAV pre-training for a few steps, the face-embedding pipeline on the saved
folder, then the few-shot benchmark (expression task, linear probe) on the pre-trained encoder."""

import time
from pathlib import Path

from ...quickstart import QuickstartRow, load_training_script

TINY = ("embedding_size=8,hidden_sizes=[16,32,64,128],depths=[1,1,1,1],layer_type=basic,image_size=32,"
        "crop_sizes=[32,16],num_crops=[2,2],min_scale_crops=[0.5,0.2],max_scale_crops=[1.0,0.5],num_prototypes=8,"
        "projection_hidden_size=64,projection_dim=32,freeze_prototypes_niters=3")


def run(output_dir: Path, steps: int | None = None) -> QuickstartRow:
    """Pre-train, reload in `hfvid-face-embedding`, benchmark; metric: expression accuracy of a linear probe."""
    import numpy as np
    import torch
    from transformers import AutoConfig, pipeline

    from .modeling_face_pretraining import FaceRepresentationModel

    from ...data.synthetic_face_tasks import synthetic_expression_faces
    from .benchmark import run_benchmark

    start = time.time()
    out = Path(output_dir) / "face_pretraining"
    script = load_training_script("pretrain_face_representation")
    argv = ["--dataset_name", "synthetic", "--output_dir", str(out), "--cpu", "--config_overrides", TINY,
            "--max_train_steps", str(steps or 60), "--per_device_train_batch_size", "32", "--optimizer", "adamw",
            "--learning_rate", "1e-3", "--num_warmup_steps", "3", "--synthetic_train_samples", "256",
            "--probe_samples", "128", "--logging_steps", "10"]
    history = script.main(script.parse_args(argv))["history"]
    if not (out / "README.md").is_file():
        raise RuntimeError(f"the training script did not render a model card in {out}")

    pipe = pipeline("hfvid-face-embedding", model=str(out), device="cpu")
    faces = synthetic_expression_faces(4, 64, seed=99)
    embeddings = pipe([f["image"] for f in faces], batch_size=4)
    if not all(abs(np.linalg.norm(e[0]["embedding"]) - 1) < 1e-4 for e in embeddings):
        raise RuntimeError("the face-embedding pipeline did not return unit-norm embeddings")

    bench = run_benchmark(str(out), ["expression"], fractions=[1.0, 0.25], seeds=[0], protocol="linear",
                          output_dir=out / "benchmark", steps=100, train_size=256, test_size=128)
    accuracy = bench["runs"][0]["metrics"]["accuracy"]
    # the same probe on the same architecture, randomly initialised: what pre-training adds (chance is 25 %)
    torch.manual_seed(0)
    random_init = FaceRepresentationModel(AutoConfig.from_pretrained(str(out)))
    baseline = run_benchmark(random_init, ["expression"], fractions=[1.0], seeds=[0], protocol="linear",
                             output_dir=out / "benchmark_random_init", steps=100, train_size=256, test_size=128)
    random_accuracy = baseline["runs"][0]["metrics"]["accuracy"]
    return QuickstartRow("face_pretraining", history["global_step"], history["first_loss"], history["last_loss"],
                         f"expression acc (linear probe, chance 25%) SwAV {accuracy:.1f}% / random init "
                         f"{random_accuracy:.1f}%", str(out), time.time() - start)
