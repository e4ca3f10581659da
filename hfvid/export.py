"""ONNX export of the hfvid image models, checked against PyTorch with onnxruntime.

``export_onnx(model_or_folder, method, output_dir)`` writes ``model.onnx`` (opset 18, the ``torch.onnx.export``
dynamo exporter, a dynamic batch axis) beside the model's ``config.json`` and processor config, so a deployment
keeps the preprocessing parameters. Each exported graph is the model's *inference* path (no losses, no flip test),
wrapped to return plain tensors, as optimum does:

========================  ====================================================  ==============================
method                    inputs                                                outputs
========================  ====================================================  ==============================
subpixel_fan              pixel_values (B, 3, S, S)                             landmarks (crop px), scores,
                                                                                heatmaps
keypoints_to_landmarks    pixel_values (B, 3, S, S)                             landmarks (crop px), scores,
                                                                                heatmaps
face_pretraining          pixel_values (B, 3, S, S)                             embedding, last_hidden_state
gannotation               pixel_values (B, 3, S, S) in [-1, 1], target_landmarks sample, mask
                          (B, N, 2) (or landmark_maps for edge encodings)
========================  ====================================================  ==============================

The other methods are video or text-generation models whose inference is not one static graph; asking for them
raises a ``ValueError`` that says why (see ``NOT_EXPORTABLE``). Needs ``pip install hfvid[export]``
(onnx, onnxscript, onnxruntime).
"""

import json
import shutil
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

OPSET = 18

NOT_EXPORTABLE = {
    "rest": "REST captions by autoregressive generation (a decoding loop with a growing cache), not one static graph",
    "bayesian_prompt": "a PEFT adapter that samples prompt contexts (Monte-Carlo) at inference; export the base CLIP "
                       "with optimum instead",
    "memsvd": "MeMSVD keeps a long-term memory updated by incremental SVD between calls (state across a video)",
    "affective_process": "Affective Processes stream overlapping windows over a video and sample a latent context "
                         "per window (stochastic, stateful across windows)",
    "contrastive_au": "a video model served by the streaming hfvid-au-intensity pipeline (windows stitched across "
                      "calls); only the image models are exported",
    "bmvit": "a video detector whose clip sampling and set matching live in the pipeline; only the image models are "
             "exported",
    "mvitv2": "a video backbone; export torchvision's mvit_v2_s with torch.onnx directly",
}


class _Outputs(nn.Module):
    """The model's forward on named inputs, returning the named output fields as a tuple (what ONNX exports)."""

    def __init__(self, model, input_names: tuple[str, ...], output_names: tuple[str, ...]):
        super().__init__()
        self.model, self.input_names, self.output_names = model, input_names, output_names

    def forward(self, pixel_values, conditioning=None):
        inputs = (pixel_values,) if conditioning is None else (pixel_values, conditioning)
        out = self.model(**dict(zip(self.input_names, inputs)), return_dict=True)
        return tuple(getattr(out, name) for name in self.output_names)


class _SubpixelFANInference(nn.Module):
    """SH-FAN's inference path: last-stack heatmaps, then sub-pixel decoding. The model's forward splits its batch
    into views (for the consistency loss and flip test), which would fix the exported batch size."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        heatmaps = self.model.fan(pixel_values, return_dict=True).heatmaps[-1]
        landmarks, scores = self.model.decode(heatmaps)
        return landmarks, scores, heatmaps


@dataclass(frozen=True)
class OnnxSpec:
    model_class: str  # "module:Class" loaded with from_pretrained
    output_names: tuple[str, ...]


SPECS = {
    "subpixel_fan": OnnxSpec("hfvid.models.subpixel_fan:SubpixelFANForFacialLandmarkDetection",
                             ("landmarks", "scores", "heatmaps")),
    "keypoints_to_landmarks": OnnxSpec(
        "hfvid.models.keypoints_to_landmarks:KeypointsToLandmarksForLandmarkDetection",
        ("landmarks", "scores", "heatmaps")),
    "face_pretraining": OnnxSpec("hfvid.models.face_pretraining:FaceRepresentationModel",
                                 ("embedding", "last_hidden_state")),
    "gannotation": OnnxSpec("hfvid.models.gannotation:GANnotationGenerator", ("sample", "mask")),
}


# config switches that make the eager forward depend on the batch size (which would fix the exported batch axis)
_BATCH_DEPENDENT = {"cpu_inference_chunk_size": None}  # SH-FAN: CPU inference in chunks of N crops


@contextmanager
def _one_graph(config):
    """Turn off batch-size-dependent paths of ``config`` while tracing (restored afterwards)."""
    saved = {name: getattr(config, name) for name in _BATCH_DEPENDENT if hasattr(config, name)}
    try:
        for name in saved:
            setattr(config, name, _BATCH_DEPENDENT[name])
        yield
    finally:
        for name, value in saved.items():
            setattr(config, name, value)


def _check_method(method: str) -> OnnxSpec:
    if method in NOT_EXPORTABLE:
        raise ValueError(f"method {method!r} cannot be exported to ONNX: {NOT_EXPORTABLE[method]}. "
                         f"Exportable: {sorted(SPECS)}")
    if method not in SPECS:
        raise ValueError(f"unknown method {method!r}; exportable to ONNX: {sorted(SPECS)}")
    return SPECS[method]


def _model_folder(path: Path, method: str) -> Path:
    """The folder holding the model's config.json (a GANnotation pipeline keeps its generator in ``synthesizer/``)."""
    if method == "gannotation" and (path / "model_index.json").is_file():
        return path / "synthesizer"
    return path


def load_for_export(model, method: str):
    """A model instance, or a folder / Hub id loaded with the method's exported class (eval mode, float32)."""
    from .registration import load_object

    spec = _check_method(method)
    if isinstance(model, (str, Path)):
        path = Path(model)
        if path.exists():
            if not (_model_folder(path, method) / "config.json").is_file():
                raise FileNotFoundError(f"model {str(model)!r} has no config.json (expected a save_pretrained folder)")
            model = load_object(spec.model_class).from_pretrained(_model_folder(path, method))
        else:  # a Hub id
            subfolder = "synthesizer" if method == "gannotation" else ""
            model = load_object(spec.model_class).from_pretrained(str(model), subfolder=subfolder)
    expected = load_object(spec.model_class)
    if not isinstance(model, expected):
        raise ValueError(f"method {method!r} exports {expected.__name__}, got {type(model).__name__}")
    return model.float().eval()


def export_module(model, method: str):
    """(wrapper module, example inputs, input names, output names) of the graph exported for ``method``."""
    spec = _check_method(method)
    config = model.config
    size = config.image_size
    pixels = torch.rand(2, config.num_channels if hasattr(config, "num_channels") else 3, size, size)
    if method == "subpixel_fan":
        return _SubpixelFANInference(model).eval(), (pixels,), ("pixel_values",), spec.output_names
    if method == "keypoints_to_landmarks":
        return _Outputs(model, ("pixel_values",), spec.output_names).eval(), (pixels,), ("pixel_values",), \
            spec.output_names
    if method == "face_pretraining":
        names = ("pooler_output", "last_hidden_state")  # exported as embedding, last_hidden_state
        return _Outputs(model, ("pixel_values",), names).eval(), (pixels,), ("pixel_values",), spec.output_names
    # gannotation: heatmap conditioning renders in-graph from points; other encodings take the maps themselves
    outputs = spec.output_names if config.use_mask else spec.output_names[:1]
    if config.landmark_encoding == "heatmap":
        conditioning = torch.rand(2, config.num_landmarks, 2) * (size - 1)
        name = "target_landmarks"
    else:
        conditioning = model.render_landmarks(torch.rand(2, config.num_landmarks, 2) * (size - 1))
        name = "landmark_maps"
    names = ("pixel_values", name)
    return _Outputs(model, names, ("sample", "mask")[:len(outputs)]).eval(), (pixels * 2 - 1, conditioning), names, \
        outputs


def compare_with_onnxruntime(onnx_path, module: nn.Module, inputs: tuple, atol: float = 1e-3,
                             rtol: float = 1e-4) -> dict[str, dict]:
    """Run the ONNX file with onnxruntime (CPU) and the PyTorch module on ``inputs``; per output: the largest
    |difference|, the largest |PyTorch value|, and ``close``: ``max |onnx - torch| <= atol + rtol * max |torch|``.
    The tolerance follows the output's scale because float32 rounding does: landmarks in a 256-pixel crop may
    differ by ~1e-5 px, and the ~1e10 heatmaps of a randomly initialised 4-stack FAN by ~1e4."""
    import numpy as np
    import onnxruntime

    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    names = [item.name for item in session.get_inputs()]
    results = session.run(None, {name: tensor.numpy() for name, tensor in zip(names, inputs)})
    with torch.no_grad():
        expected = module(*inputs)
    report = {}
    for item, result, reference in zip(session.get_outputs(), results, expected):
        reference = reference.numpy()
        difference, scale = float(np.abs(result - reference).max()), float(np.abs(reference).max())
        report[item.name] = {"max_abs_difference": difference, "max_abs_value": scale,
                             "close": difference <= atol + rtol * scale}
    return report


def export_onnx(model, method: str, output_dir, opset: int = OPSET, atol: float | None = 1e-3,
                rtol: float = 1e-4) -> Path:
    """Export ``model`` (an instance, a folder or a Hub id) to ``output_dir/model.onnx``; returns its path.

    The batch axis is dynamic. With ``atol`` set (default 1e-3, plus ``rtol`` 1e-4 times the output's largest value) the
    file is run with onnxruntime on a batch of 3 (another batch size than the export's) and a ``RuntimeError`` is
    raised when an output differs from PyTorch by more; the comparison is written to ``output_dir/onnx_check.json``.
    """
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as error:
        raise ImportError("ONNX export needs onnx and onnxscript: pip install 'hfvid[export]'") from error
    source = model if isinstance(model, (str, Path)) else None
    model = load_for_export(model, method)
    module, inputs, input_names, output_names = export_module(model, method)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / "model.onnx"
    batch = torch.export.Dim("batch", min=1, max=4096)
    dynamic_shapes = {name: {0: batch} for name in ("pixel_values", "conditioning")[:len(inputs)]}  # shared axis
    with torch.no_grad(), _one_graph(model.config), warnings.catch_warnings():
        # two inputs share the one batch Dim on purpose; the exporter warns that it keeps a single axis name
        warnings.filterwarnings("ignore", message=".*axis name: .* will not be used")
        program = torch.onnx.export(module, inputs, dynamo=True, opset_version=opset, input_names=list(input_names),
                                    output_names=list(output_names), dynamic_shapes=dynamic_shapes,
                                    verbose=False)
    program.save(str(path), external_data=False)
    model.config.save_pretrained(output_dir)
    if source is not None and Path(source).is_dir():  # keep the processor settings for deployment
        for name in ("preprocessor_config.json", "video_preprocessor_config.json"):
            if (Path(source) / name).is_file():
                shutil.copy(Path(source) / name, output_dir / name)
    if atol is not None:
        check_inputs = tuple(torch.cat([tensor, tensor[:1]]) for tensor in inputs)
        outputs = compare_with_onnxruntime(path, module, check_inputs, atol=atol, rtol=rtol)
        (output_dir / "onnx_check.json").write_text(json.dumps(
            {"method": method, "opset": opset, "atol": atol, "rtol": rtol, "outputs": outputs}, indent=2) + "\n")
        failed = {name: result for name, result in outputs.items() if not result["close"]}
        if failed:
            raise RuntimeError(f"ONNX outputs differ from PyTorch beyond atol {atol} + rtol {rtol} * max |value|: "
                               f"{failed}")
    return path


__all__ = ["NOT_EXPORTABLE", "OPSET", "SPECS", "compare_with_onnxruntime", "export_module", "export_onnx",
           "load_for_export"]
