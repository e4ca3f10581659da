"""The ``hfvid`` console script: ``quickstart`` (the main job), ``methods``, ``env``, ``convert``, ``export`` and
``demo``."""

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


def _export(args) -> int:
    from .export import export_onnx

    path = export_onnx(args.model, args.method, args.output, opset=args.opset)
    print(f"exported {args.method} {args.model} -> {path} (onnxruntime check: {path.parent / 'onnx_check.json'})")
    return 0


def _demo(args) -> int:
    from .demo import launch_demo

    launch_demo(args.model, args.models, host=args.host, port=args.port, share=args.share, device=args.device)
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
    export = commands.add_parser("export", help="export an image model to ONNX, checked with onnxruntime")
    export.add_argument("--method", required=True, help="subpixel_fan, keypoints_to_landmarks, face_pretraining "
                                                         "or gannotation")
    export.add_argument("--model", required=True, help="a save_pretrained folder or Hub id")
    export.add_argument("--format", choices=["onnx"], default="onnx")
    export.add_argument("--output", required=True, help="output folder (model.onnx, config, processor config)")
    export.add_argument("--opset", type=int, default=18)
    export.set_defaults(func=_export)
    demo = commands.add_parser("demo", help="start the Gradio demo (one tab per method) locally")
    demo.add_argument("--model", default=None, help="a quickstart output folder (one sub-folder per method) or "
                                                     "one model folder / Hub id")
    demo.add_argument("--models", nargs="+", default=[], metavar="METHOD=PATH", help="a model per method")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=7860)
    demo.add_argument("--device", default="cpu")
    demo.add_argument("--share", action="store_true", help="also open a public Gradio link")
    demo.set_defaults(func=_demo)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
