#!/usr/bin/env python
"""The FRL few-shot face benchmark: score an image backbone on face tasks at several data fractions and seeds.

    python training_scripts/face_benchmark.py --backbone out/frl --tasks landmarks,expression,au_intensity \
        --fractions 1.0,0.1,0.01 --seeds 0,1,2 --protocol linear --output_dir bench/frl
    python training_scripts/face_benchmark.py --backbone microsoft/resnet-50 --tasks recognition ...

`--backbone` is any `AutoModel` checkpoint (path or hub id) with a pooled output. Tasks: landmarks (NME),
alignment_3d (NME, bbox), au_intensity (ICC(3,1), subject-disjoint), expression (accuracy, CCC of V/A), recognition
(verification accuracy, TAR@FAR on unseen identities). Data: `--dataset synthetic` (built in, offline) or
`--dataset real --data_root DIR` (landmarks: DIR/train and DIR/test folders with iBUG .pts files). Writes
`runs/<task>_f<fraction>_s<seed>.json`, `splits/*.json` (the exact training indices), `results.json` and
`results.md` (mean +- std over seeds) under `--output_dir`.
"""

import argparse

from hfvid.models.face_pretraining.benchmark import PROTOCOLS, TASKS, check_tasks, run_benchmark
from hfvid.models.face_pretraining.splits import SPLIT_MODES, check_fraction


def _floats(text):
    try:
        return [check_fraction(float(v)) for v in text.split(",") if v.strip()]
    except ValueError as error:
        raise ValueError(f"--fractions: {error}") from None


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", required=True, help="Path or hub id of an AutoModel with a pooled output.")
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"Comma list of {', '.join(TASKS)}.")
    parser.add_argument("--fractions", default="1.0,0.1,0.01", help="Training-data fractions in (0, 1].")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--protocol", default="linear", choices=PROTOCOLS)
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--dataset", default="synthetic", choices=["synthetic", "real"])
    parser.add_argument("--data_root", default=None)
    parser.add_argument("--split_mode", default="images", choices=SPLIT_MODES, help="Video tasks: frames or stride.")
    parser.add_argument("--steps", type=int, default=200, help="Optimizer steps per run.")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--image_size", type=int, default=None, help="Default: the backbone's processor/config.")
    parser.add_argument("--synthetic_train_size", type=int, default=256)
    parser.add_argument("--synthetic_test_size", type=int, default=64)
    args = parser.parse_args(argv)
    args.tasks = check_tasks([t.strip() for t in args.tasks.split(",") if t.strip()])
    args.fractions = _floats(args.fractions)
    args.seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    if args.dataset == "real" and not args.data_root:
        raise ValueError("--dataset real needs --data_root")
    return args


def main(args):
    result = run_benchmark(
        args.backbone, args.tasks, args.fractions, args.seeds, args.protocol, args.output_dir, args.dataset,
        args.data_root, args.steps, args.batch_size, args.learning_rate, args.image_size,
        args.synthetic_train_size, args.synthetic_test_size, args.split_mode,
    )
    print(result["table"])
    return result


if __name__ == "__main__":
    main(parse_args())
