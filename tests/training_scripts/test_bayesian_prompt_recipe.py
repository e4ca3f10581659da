"""BPL recipe: per-dataset presets (flags win), Dassl's warm-up + cosine schedule, and the cross-dataset evaluation."""

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hfvid.models.bayesian_prompt.presets import PRESETS, dassl_lr_scheduler
from hfvid.quickstart import load_training_script

ROOT = Path(__file__).resolve().parents[2]
COOP_NAMES = {"imagenet", "caltech101", "oxford_pets", "stanford_cars", "oxford_flowers", "food101", "fgvc_aircraft",
              "sun397", "dtd", "eurosat", "ucf101"}


def test_presets_fill_arguments_and_flags_win(tmp_path):
    assert COOP_NAMES <= set(PRESETS)
    script = load_training_script("train_bayesian_prompt")
    args = script.parse_args(["--dataset_name", "synthetic", "--output_dir", str(tmp_path), "--preset", "eurosat"])
    assert (args.num_samples_train, args.num_samples_eval, args.num_train_epochs) == (20, 20, 60)
    assert (args.learning_rate, args.per_device_train_batch_size, args.num_shots) == (2e-3, 1, 16)
    assert (args.lr_schedule, args.warmup_epochs, args.warmup_lr, args.augmentation) == ("dassl", 1, 1e-5, "coop")
    assert args.coop_dataset == "eurosat" and args.weight_decay == 5e-4
    args = script.parse_args(["--dataset_name", "synthetic", "--output_dir", str(tmp_path), "--preset", "ucf101",
                              "--num_train_epochs", "3", "--num_samples_train", "10", "--learning_rate", "2e-3"])
    assert (args.num_train_epochs, args.num_samples_train, args.num_samples_eval) == (3, 10, 5)
    assert script.parse_args(["--dataset_name", "synthetic", "--output_dir", str(tmp_path), "--preset",
                              "imagenet_cross_dataset"]).subsample_classes == "all"
    plain = script.parse_args(["--dataset_name", "synthetic", "--output_dir", str(tmp_path)])
    assert (plain.lr_schedule, plain.augmentation, plain.coop_dataset) == ("hf", "none", None)
    with pytest.raises(SystemExit):
        script.parse_args(["--dataset_name", "synthetic", "--output_dir", str(tmp_path), "--preset", "mnist"])


def test_dassl_schedule_is_exact():
    """1 epoch at 1e-5, then Dassl's CosineAnnealingLR(T_max=epochs) stepped once per epoch after the warm-up."""
    steps_per_epoch, epochs, base = 3, 5, 2e-3
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base)
    schedule = dassl_lr_scheduler(optimizer, steps_per_epoch, epochs)
    ours = []
    for _ in range(steps_per_epoch * epochs):
        ours.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert ours[:3] == [1e-5] * 3
    reference_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(reference_opt, T_max=epochs)
    expected = [1e-5] * steps_per_epoch
    for _ in range(1, epochs):
        expected += [reference_opt.param_groups[0]["lr"]] * steps_per_epoch
        reference_opt.step()
        cosine.step()
    assert ours == pytest.approx(expected, rel=1e-12, abs=0)
    assert ours[3] == base and ours[6] == pytest.approx(base * (1 + math.cos(math.pi / epochs)) / 2)
    # a prepared scheduler steps once per process per optimizer step
    two = dassl_lr_scheduler(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base), 3, 5, num_processes=2)
    assert [two.lr_lambdas[0](s) * base for s in (5, 6)] == [1e-5, base]


def test_preset_run_with_augmentation_and_dassl_schedule(tmp_path):
    sys.path.insert(0, str(ROOT / "tests" / "data"))
    from test_coop_splits import coop_dataset

    from hfvid.data.synthetic_images import shape_class_names, tiny_clip

    clip, processor = tiny_clip(image_size=32)
    clip.save_pretrained(tmp_path / "clip")
    processor.save_pretrained(tmp_path / "clip")
    split = coop_dataset(tmp_path / "data" / "eurosat", shape_class_names(4), per_split=(3, 0, 2))
    (tmp_path / "data" / "eurosat" / "images").rename(tmp_path / "data" / "eurosat" / "2750")
    split.rename(split.parent / "split_zhou_EuroSAT.json")
    script = load_training_script("train_bayesian_prompt")
    argv = ["--preset", "eurosat", "--data_root", str(tmp_path / "data"), "--model_name_or_path", str(tmp_path / "clip"),
            "--output_dir", str(tmp_path / "run"), "--num_train_epochs", "2", "--num_shots", "2",
            "--num_samples_train", "2", "--num_samples_eval", "2", "--per_device_train_batch_size", "2", "--cpu"]
    out = script.main(script.parse_args(argv))
    assert out["history"]["global_step"] == 4  # 2 shots x 2 base classes, batch 2: 2 steps per epoch
    assert out["results"]["dataset"] == "eurosat" and out["results"]["preset"] == "eurosat"


def tiny_variant_tree(root):
    """ImageNet-A layout with 2 of 3 classnames.txt classes, images coloured like the tiny CLIP's shapes."""
    from hfvid.data.synthetic_images import render_shape

    folder = root / "imagenet-adversarial"
    (folder / "imagenet-a").mkdir(parents=True)
    (folder / "classnames.txt").write_text("n0001 red circle\nn0002 blue square\nn0003 green triangle\n")
    for wnid, name in (("n0001", "red circle"), ("n0003", "green triangle")):
        (folder / "imagenet-a" / wnid).mkdir()
        for i in range(2):
            Image.fromarray(render_shape(name, 32, np.random.default_rng(i))).save(folder / "imagenet-a" / wnid / f"{i}.png")


def test_cross_dataset_evaluation_script(tmp_path):
    sys.path.insert(0, str(ROOT / "tests" / "data"))
    from test_coop_splits import coop_dataset

    from hfvid.data.synthetic_images import shape_class_names

    train = load_training_script("train_bayesian_prompt")
    run = tmp_path / "run"
    train.main(train.parse_args(["--dataset_name", "synthetic", "--output_dir", str(run), "--max_train_steps", "1",
                                 "--num_shots", "2", "--synthetic_num_classes", "4", "--synthetic_train_per_class", "2",
                                 "--synthetic_test_per_class", "1", "--num_samples_train", "2", "--num_samples_eval",
                                 "2", "--per_device_train_batch_size", "4", "--cpu"]))
    data = tmp_path / "data"
    split = coop_dataset(data / "dtd", shape_class_names(4), per_split=(1, 0, 2))
    split.rename(split.parent / "split_zhou_DescribableTextures.json")
    tiny_variant_tree(data)
    script = load_training_script("evaluate_bayesian_prompt_cross_dataset")
    argv = ["--adapter", str(run), "--data_root", str(data), "--targets", "dtd", "imagenet_a", "--output_dir",
            str(tmp_path / "eval"), "--device", "cpu", "--batch_size", "3"]
    report = script.main(script.parse_args(argv))
    assert report["targets"]["dtd"]["num_images"] == 8 and report["targets"]["imagenet_a"]["num_classes"] == 2
    for row in report["targets"].values():
        assert 0 <= row["top1"] <= 100
    assert report["averages"]["cross_dataset_average_top1"] == report["targets"]["dtd"]["top1"]
    assert report["averages"]["domain_generalisation_targets"] == 1
    saved = json.loads((tmp_path / "eval" / "cross_dataset_results.json").read_text())
    assert saved["targets"] == report["targets"]
    assert "| imagenet_a |" in (tmp_path / "eval" / "cross_dataset_results.md").read_text()
    again = script.main(script.parse_args(argv))  # evaluation draws are seeded: the same numbers again
    assert again["targets"] == report["targets"]
    base2new = script.main(script.parse_args(argv[:5] + ["dtd", "--protocol", "base2new"] + argv[7:]))
    assert set(base2new["targets"]["dtd"]) == {"acc_base", "acc_new", "harmonic_mean"}
    with pytest.raises(ValueError, match="not CoOp dataset names"):
        script.parse_args(["--adapter", str(run), "--data_root", str(data), "--targets", "mnist", "--output_dir", "x"])
    with pytest.raises(FileNotFoundError, match="adapter_config.json"):
        script.parse_args(["--adapter", str(tmp_path), "--data_root", str(data), "--targets", "dtd", "--output_dir", "x"])
