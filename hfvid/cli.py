"""The ``hfvid`` console script: ``quickstart`` (the main job), ``methods``, ``env`` and ``convert``."""

import argparse
import os
import sys


def _quickstart(args) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is local: never wait on a network
    from .quickstart import format_table, run_quickstart

    rows = run_quickstart(args.methods, args.output_dir, args.steps)
    print("\nhfvid quickstart: trained, reloaded with from_pretrained + pipeline(), evaluated, card rendered\n")
    print(format_table(rows))
    return 0


def _methods(args) -> int:
    from .registration import METHODS

    for method in METHODS:
        tasks = ", ".join(task.task for task in method.pipelines) or "-"
        print(f"{method.name:24s} {method.model_type:28s} {tasks:28s} {method.status}")
    return 0


def _env(args) -> int:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    print(f"python: {platform.python_version()} ({platform.platform()})")
    for package in ("hfvid", "torch", "torchvision", "transformers", "accelerate", "datasets", "peft", "diffusers",
                    "huggingface_hub", "safetensors", "av"):
        try:
            print(f"{package}: {version(package)}")
        except PackageNotFoundError:
            print(f"{package}: not installed")
    import torch

    print(f"cuda available: {torch.cuda.is_available()}")
    return 0


def _convert(args) -> int:
    if args.source == "face-alignment":
        from .models.subpixel_fan.convert_face_alignment_to_hfvid import convert

        convert(args.checkpoint_path, args.output_dir, push_to_hub=args.push_to_hub, repo_id=args.hub_model_id)
    elif args.source == "torchvision-mvit":
        from .models.mvitv2.convert_torchvision_mvit_to_hfvid import convert

        convert(args.checkpoint_path, args.output_dir, push_to_hub=args.push_to_hub, repo_id=args.hub_model_id)
    print(f"converted {args.checkpoint_path} -> {args.output_dir}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hfvid", description="Research methods for faces and video on the HF stack.")
    commands = parser.add_subparsers(dest="command", required=True)
    quick = commands.add_parser("quickstart", help="train, reload, evaluate and card every method on synthetic data")
    quick.add_argument("--methods", nargs="+", default=None, help="subset of methods (default: all implemented)")
    quick.add_argument("--output_dir", default="hfvid-quickstart")
    quick.add_argument("--steps", type=int, default=None, help="override each recipe's training steps")
    quick.set_defaults(func=_quickstart)
    commands.add_parser("methods", help="list the methods and their pipeline tasks").set_defaults(func=_methods)
    commands.add_parser("env", help="print versions for bug reports").set_defaults(func=_env)
    convert = commands.add_parser("convert", help="convert an original checkpoint to an hfvid folder")
    convert.add_argument("source", choices=["face-alignment", "torchvision-mvit"])
    convert.add_argument("--checkpoint_path", required=True)
    convert.add_argument("--output_dir", required=True)
    convert.add_argument("--push_to_hub", action="store_true")
    convert.add_argument("--hub_model_id", default=None)
    convert.set_defaults(func=_convert)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
