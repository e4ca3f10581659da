"""``hfvid quickstart`` recipe of FRL: SwAV pre-training for a few steps, the face-embedding pipeline on the saved
folder, a linear identity probe against the same probe on a random-initialised encoder, then the few-shot benchmark
harness (recognition task, linear protocol) on the pre-trained encoder."""

import time
from pathlib import Path

from . import QuickstartRow, load_training_script, loss_picture

TINY = ("embedding_size=8,hidden_sizes=[16,32,64,128],depths=[1,1,1,1],layer_type=basic,image_size=32,"
        "crop_sizes=[32,16],num_crops=[2,2],min_scale_crops=[0.5,0.2],max_scale_crops=[1.0,0.5],num_prototypes=8,"
        "projection_hidden_size=64,projection_dim=32,freeze_prototypes_niters=3")
# Tiny-run choices (ours, not the paper's): SwAV's full colour distortion (s = 1) makes this 200-step run collapse
# to uniform codes (loss log K, code entropy -> 1): colour is the synthetic faces' cheapest instance cue and the
# tiny network finds no colour-invariant one in time, so `--color_strength 0` (crops, flips and blur remain).
TINY_ARGS = ["--max_train_steps", "200", "--per_device_train_batch_size", "32", "--optimizer", "adamw",
             "--learning_rate", "1e-3", "--num_warmup_steps", "3", "--synthetic_train_samples", "256",
             "--color_strength", "0", "--probe_samples", "128", "--logging_steps", "20", "--seed", "0"]


def run(output_dir: Path, steps: int | None = None) -> QuickstartRow:
    """Pre-train, reload in `hfvid-face-embedding`, probe identities (SwAV vs random init), benchmark."""
    import numpy as np
    import torch
    from transformers import AutoConfig, AutoImageProcessor, AutoModel, pipeline

    from ..data.synthetic_face_tasks import synthetic_expression_faces
    from ..models.face_pretraining.benchmark import run_benchmark
    from ..models.face_pretraining.head_training import HeadTrainingConfig
    from ..models.face_pretraining.modeling_face_pretraining import FaceRepresentationModel
    from ..models.face_pretraining.pretraining import identity_probe_accuracy, identity_probe_data

    start = time.time()
    out = Path(output_dir) / "face_pretraining"
    script = load_training_script("pretrain_face_representation")
    argv = ["--dataset_name", "synthetic", "--output_dir", str(out), "--cpu", "--config_overrides", TINY, *TINY_ARGS]
    if steps:
        argv += ["--max_train_steps", str(steps)]
    history = script.main(script.parse_args(argv))["history"]
    if not (out / "README.md").is_file():
        raise RuntimeError(f"the training script did not render a model card in {out}")

    pipe = pipeline("hfvid-face-embedding", model=str(out), device="cpu")
    faces = synthetic_expression_faces(4, 64, seed=99)
    embeddings = pipe([f["image"] for f in faces], batch_size=4, face_detector="full_image")  # face crops
    if not all(abs(np.linalg.norm(e[0]["embedding"]) - 1) < 1e-4 for e in embeddings):
        raise RuntimeError("the face-embedding pipeline did not return unit-norm embeddings")

    # the same linear probe, on the same synthetic people (16 identities, chance 6.25 %), for the reloaded encoder
    # and for the same architecture randomly initialised: what pre-training adds
    pixels, identities = identity_probe_data(AutoImageProcessor.from_pretrained(str(out)), 16, 8, 64, seed=123)
    swav = identity_probe_accuracy(AutoModel.from_pretrained(str(out)), pixels, identities)
    torch.manual_seed(0)
    random_init = identity_probe_accuracy(FaceRepresentationModel(AutoConfig.from_pretrained(str(out))), pixels,
                                          identities)
    # 64 synthetic training faces, 50 steps: no augmentation (box jitter, flips and colour jitter cost 20 points of
    # verification accuracy here: colour is these people's main identity cue)
    bench = run_benchmark(str(out), ["recognition"], fractions=[1.0], seeds=[0], protocol="linear",
                          output_dir=out / "benchmark", training=HeadTrainingConfig(max_steps=50, augment=False),
                          train_size=64, test_size=32)
    verification = 100 * bench["runs"][0]["metrics"]["accuracy"]  # a fraction in the harness
    return QuickstartRow("face_pretraining", history["global_step"], history["first_loss"], history["last_loss"],
                         f"identity acc (linear probe, chance 6.25%) SwAV {swav:.1f}% / random init "
                         f"{random_init:.1f}%; benchmark verification acc {verification:.1f}%", str(out),
                         time.time() - start, loss_picture(out, history, "SwAV face pre-training"))
