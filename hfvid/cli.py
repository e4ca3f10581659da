"""The ``hfvid`` console script: ``quickstart`` (the main job), ``methods``, ``env``, ``convert``, ``export`` and
``demo``.

User errors (a bad argument value, a missing or unreadable file: ``ValueError``, ``KeyError`` and ``OSError``,
which includes ``FileNotFoundError``) print one line ``hfvid: error: ...`` to stderr and exit with status 2, as
argparse does for malformed command lines; anything else is a bug and keeps its traceback. ``HFVID_DEBUG=1`` shows
the traceback of user errors too.
"""

import argparse
import os
import sys
from pathlib import Path

USER_ERRORS = (ValueError, KeyError, OSError)


def _quickstart(args) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is local: never wait on a network
    from .quickstart import format_table, run_quickstart

    rows = run_quickstart(args.methods, args.output_dir, args.steps)
    print("\nhfvid quickstart: trained, reloaded with from_pretrained + pipeline(), evaluated, card rendered\n")
    print(format_table(rows))
    print(f"\npictures: quickstart.png in each output folder; try the models in a browser: "
          f"hfvid demo --model {args.output_dir}")
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
    import pickle

    path = Path(args.checkpoint_path)
    if not path.is_file():
        raise FileNotFoundError(f"--checkpoint_path {str(path)!r}: no such file (give the original checkpoint, "
                                "e.g. a .pth / .pth.tar state dict)")
    if args.source == "face-alignment":
        from .models.subpixel_fan.convert_face_alignment_to_hfvid import convert
    elif args.source == "pyslowfast-mvit":  # architecture and test views from the checkpoint's own cfg
        from .models.mvitv2.convert_pyslowfast_mvit_to_hfvid import convert
    else:
        from .models.mvitv2.convert_torchvision_mvit_to_hfvid import convert
    from safetensors import SafetensorError

    try:
        convert(path, args.output_dir, push_to_hub=args.push_to_hub, repo_id=args.hub_model_id)
    except pickle.UnpicklingError as error:  # torch.load(weights_only=True): not tensors and plain containers
        raise ValueError(f"--checkpoint_path {str(path)!r} is not a PyTorch state-dict file for {args.source} "
                         "(read with torch.load(weights_only=True): tensors and plain containers only)") from error
    except (EOFError, SafetensorError) as error:
        raise ValueError(f"--checkpoint_path {str(path)!r} is not a readable checkpoint for {args.source} "
                         f"({type(error).__name__}: {_first_sentence(error)})") from error
    except RuntimeError as error:
        if "PytorchStreamReader" not in str(error):  # torch.load's message for a damaged zip file
            raise
        raise ValueError(f"--checkpoint_path {str(path)!r} is a damaged PyTorch file ({_first_sentence(error)})") \
            from error
    print(f"converted {args.checkpoint_path} -> {args.output_dir}")
    return 0


def _first_sentence(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0].split(". ")[0].rstrip(".") if text else "empty file"


def _export(args) -> int:
    from .export import export_onnx

    if args.model.startswith(("/", ".", "~")) and not Path(args.model).expanduser().exists():
        raise FileNotFoundError(f"--model {args.model!r}: no such folder (give a save_pretrained folder or Hub id)")

    path = export_onnx(args.model, args.method, args.output, opset=args.opset)
    print(f"exported {args.method} {args.model} -> {path} (onnxruntime check: {path.parent / 'onnx_check.json'})")
    return 0


def _demo(args) -> int:
    from .demo import launch_demo

    launch_demo(args.model, args.models, host=args.host, port=args.port, share=args.share, device=args.device)
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hfvid", description="Research methods for faces and video on the HF stack.")
    commands = parser.add_subparsers(dest="command", required=True)
    quick = commands.add_parser("quickstart", help="train, reload, evaluate and card every method on synthetic data")
    quick.add_argument("--methods", nargs="+", default=None, help="subset of methods (default: all implemented)")
    quick.add_argument("--output_dir", default="hfvid-quickstart")
    quick.add_argument("--steps", type=_positive_int, default=None, help="override each recipe's training steps")
    quick.set_defaults(func=_quickstart)
    commands.add_parser("methods", help="list the methods and their pipeline tasks").set_defaults(func=_methods)
    commands.add_parser("env", help="print versions for bug reports").set_defaults(func=_env)
    convert = commands.add_parser("convert", help="convert an original checkpoint to an hfvid folder")
    convert.add_argument("source", choices=["face-alignment", "torchvision-mvit", "pyslowfast-mvit"])
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
    try:
        return args.func(args)
    except USER_ERRORS as error:
        if os.environ.get("HFVID_DEBUG"):
            raise
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"hfvid: error: {' '.join(str(message).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
