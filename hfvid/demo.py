"""The Gradio demo: one tab per method, each running the method's pipeline and drawing its result.

``build_demo({"subpixel_fan": "path/or/hub-id", ...})`` returns a ``gradio.Blocks``; ``launch_demo`` (what
``hfvid demo`` calls) also resolves a quickstart output folder into one model per method. ``demo/app.py`` is the same
app laid out as a Hugging Face Space. Pipelines load on a tab's first run and stay cached; everything runs on the CPU
unless ``device`` says otherwise. Needs ``pip install 'hfvid[demo]'`` (gradio, matplotlib).
"""

import json
import os
import tempfile
import threading
from functools import partial
from pathlib import Path

import numpy as np

# method -> (pipeline task, kind of input); the order is the tab order
TASKS = {
    "subpixel_fan": ("hfvid-facial-landmarks", "face_image"),
    "keypoints_to_landmarks": ("hfvid-unsupervised-landmarks", "object_image"),
    "face_pretraining": ("hfvid-face-embedding", "face_image"),
    "gannotation": ("gannotation", "gannotation"),
    "bayesian_prompt": ("hfvid-zero-shot-image-classification", "labelled_image"),
    "affective_process": ("hfvid-affect", "affect_video"),
    "contrastive_au": ("hfvid-au-intensity", "affect_video"),
    "bmvit": ("hfvid-video-action-localization", "action_video"),
    "memsvd": ("hfvid-long-term-action-detection", "action_video"),
    "mvitv2": ("video-classification", "classified_video"),
    "rest": ("hfvid-zero-shot-video-classification", "labelled_video"),
}


NOTES = {
    "memsvd": ". Person boxes: the whole frame, every second. The pipeline's default actor encoder reads frames as "
              "feature maps, so a model trained on d-dim features needs its video backbone (actor_encoder=) and "
              "says so here.",
    "gannotation": ". The targets are the source landmarks rotated about their centre (-20 to +20 degrees).",
}


def method_of_folder(path) -> str | None:
    """The hfvid method a saved folder belongs to (from ``config.json``'s ``model_type``, a diffusers
    ``model_index.json`` or a PEFT ``adapter_config.json``); ``None`` when it is not an hfvid model folder."""
    from .registration import METHODS

    path = Path(path)
    if (path / "model_index.json").is_file():
        return "gannotation" if "GANnotation" in (path / "model_index.json").read_text() else None
    if (path / "adapter_config.json").is_file():
        peft_type = json.loads((path / "adapter_config.json").read_text()).get("peft_type", "")
        return "bayesian_prompt" if peft_type == "HFVID_BAYESIAN_PROMPT" else None
    if (path / "config.json").is_file():
        model_type = json.loads((path / "config.json").read_text()).get("model_type")
        return next((m.name for m in METHODS if m.model_type == model_type), None)
    return None


def resolve_models(model=None, models=()) -> dict[str, str]:
    """``{method: folder or Hub id}`` from ``model`` (one model folder, a folder of them such as a quickstart
    output, or a Hub id) and ``models`` (``"method=path"`` strings, which win)."""
    resolved = {}
    if model is not None:
        path = Path(model)
        if path.is_dir():
            method = method_of_folder(path)
            if method is not None:
                resolved[method] = str(path)
            else:
                for child in sorted(p for p in path.iterdir() if p.is_dir()):
                    if (method := method_of_folder(child)) is not None:
                        resolved.setdefault(method, str(child))
            if not resolved:
                raise ValueError(f"model {str(model)!r} is neither an hfvid model folder nor a folder of them "
                                 f"(e.g. a `hfvid quickstart` output)")
        elif str(model).startswith((".", "/", "~")) or str(model).count("/") > 1:
            raise FileNotFoundError(f"model folder {str(model)!r} does not exist")
        else:  # a Hub id: read its config to know the method
            from huggingface_hub import hf_hub_download

            config = json.loads(Path(hf_hub_download(str(model), "config.json")).read_text())
            from .registration import METHODS

            method = next((m.name for m in METHODS if m.model_type == config.get("model_type")), None)
            if method is None:
                raise ValueError(f"model {model!r} has model_type {config.get('model_type')!r}, not an hfvid method; "
                                 f"pass --models METHOD={model}")
            resolved[method] = str(model)
    for item in models:
        method, sep, location = item.partition("=")
        if not sep or not location:
            raise ValueError(f"models entries must be METHOD=PATH, got {item!r}")
        if method not in TASKS:
            raise ValueError(f"unknown method {method!r} in --models; known: {sorted(TASKS)}")
        resolved[method] = location
    if not resolved:
        raise ValueError("no model given: pass model= (a folder or Hub id) or models=['METHOD=PATH', ...]")
    return {method: resolved[method] for method in TASKS if method in resolved}


class _Runner:
    """Loads one method's pipeline on first use and turns UI inputs into (drawn result, JSON)."""

    def __init__(self, method: str, location: str, device: str):
        self.method, self.location, self.device = method, location, device
        self.task, self.kind = TASKS[method]
        self._pipe = None
        self._lock = threading.Lock()  # Gradio runs handlers in threads: load once

    @property
    def pipe(self):
        with self._lock:
            if self._pipe is None:
                self._pipe = self._load()
            return self._pipe

    def _load(self):
        import hfvid  # noqa: F401  (registers the tasks)

        if self.task == "gannotation":
            from .models.gannotation.pipeline_gannotation import GANnotationPipeline

            pipe = GANnotationPipeline.from_pretrained(self.location).to(self.device)
            pipe.set_progress_bar_config(disable=True)
            return pipe
        from transformers import pipeline

        return pipeline(self.task, model=self.location, device=self.device)


def _parse_box(text: str):
    try:
        values = [float(v) for v in text.replace(",", " ").split()] if text and text.strip() else []
    except ValueError as error:
        raise ValueError(f"box must be 4 numbers 'x1, y1, x2, y2', got {text!r}") from error
    if values and len(values) != 4:
        raise ValueError(f"box must be 4 numbers 'x1, y1, x2, y2', got {text!r}")
    return values or None


def _parse_labels(text: str) -> list[str]:
    labels = [label.strip() for label in (text or "").split(",") if label.strip()]
    if not labels:
        raise ValueError("give at least one candidate label (comma separated)")
    return labels


def _need(value, name: str):
    if value is None:
        import gradio as gr

        raise gr.Error(f"upload {name} first")
    return value


def _output_path(suffix: str) -> str:
    return tempfile.NamedTemporaryFile(suffix=suffix, delete=False, prefix="hfvid-demo-").name


def run_image(runner: _Runner, image, box: str, detector: str):
    """Landmarks / embeddings of one image: drawn image + JSON."""
    from . import visualize

    image = _need(image, "an image")
    box = _parse_box(box)
    kwargs = {"boxes": [box]} if box else {"face_detector": detector}
    result = runner.pipe(image, **kwargs)
    if runner.method == "face_pretraining":
        drawn = visualize.draw_boxes(image, result)
    else:
        drawn = visualize.draw_landmarks(image, result)
    return drawn, result


def run_labelled_image(runner: _Runner, image, labels: str):
    from . import visualize

    result = runner.pipe(_need(image, "an image"), candidate_labels=_parse_labels(labels))
    return visualize.plot_label_scores(result), result


def _trajectory(points: np.ndarray, frames: int, degrees: float = 20.0) -> np.ndarray:
    """A head-turn-like target trajectory: the source shape rotated about its centre from -degrees to +degrees."""
    centre = points.mean(0)
    shapes = []
    for angle in np.deg2rad(np.linspace(-degrees, degrees, frames)):
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        shapes.append((points - centre) @ rotation.T + centre)
    return np.stack(shapes)


def run_gannotation(runner: _Runner, image, landmarks: str, frames: int):
    from . import visualize

    image = _need(image, "a source face")
    try:
        points = np.asarray(json.loads(landmarks), dtype=np.float64)
    except (json.JSONDecodeError, TypeError, ValueError) as error:
        raise ValueError(f"source landmarks must be a JSON list of [x, y] points, got {landmarks!r}") from error
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"source landmarks must be (N, 2), got shape {points.shape}")
    output = runner.pipe(image, _trajectory(points, int(frames)), source_landmarks=points)
    scale = max(1.0, 128 / runner.pipe.synthesizer.config.image_size)  # small models: enlarge to be seen
    video = visualize.gannotation_video(output, _output_path(".mp4"), fps=8, scale=scale)
    return visualize.gannotation_grid(output, scale=scale), str(video), {"landmarks": output.landmarks.tolist()}


def run_video(runner: _Runner, video, option=None):
    """Video methods: affect plot, action boxes on the video, or label scores; plus the JSON. ``option`` is the
    candidate labels (zero-shot) or whether the video is a face crop (affect)."""
    from . import visualize

    video = _need(video, "a video")
    if runner.kind == "affect_video":
        records = runner.pipe(video, face_detector="full_image" if option else None)
        return visualize.plot_affect(records), None, records
    if runner.kind == "action_video":
        kwargs = {}
        if runner.method == "memsvd":  # the long-term model needs person boxes: the whole frame, every second
            from .data.video import video_info

            info = video_info(video)
            whole = [[0, 0, info["width"], info["height"]]]
            kwargs["boxes"] = {float(t): whole for t in range(max(1, int(info["duration"] or 1)))}
        result = runner.pipe(video, **kwargs)
        from .data.video import video_info

        scale = max(1.0, 256 / (video_info(video)["height"] or 256))  # small videos: enlarge so boxes are seen
        busiest = max(result, key=lambda keyframe: len(keyframe["detections"]))
        return (visualize.draw_keyframe(video, busiest, scale=scale),
                str(visualize.draw_action_video(video, result, _output_path(".mp4"), scale=scale)), result)
    if runner.kind == "labelled_video":
        result = runner.pipe(video, candidate_labels=_parse_labels(option))
    else:
        result = runner.pipe(video, top_k=5)
    return visualize.plot_label_scores(result), None, result


def _face_example() -> tuple[str, str]:
    """A synthetic face image (saved to a temporary file) and its box, for the image tabs' example."""
    from PIL import Image

    from .data.synthetic import synthetic_faces

    face = synthetic_faces(1, image_size=128, seed=7)[0]
    path = _output_path(".png")
    Image.fromarray(face["image"]).save(path)
    return path, ", ".join(f"{v:.0f}" for v in face["box"])


def build_demo(models: dict[str, str], device: str = "cpu"):
    """A ``gradio.Blocks`` with one tab per method in ``models`` (``{method: folder or Hub id}``)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no telemetry calls from a local demo
    try:
        import gradio as gr
    except ImportError as error:
        raise ImportError("the demo needs gradio: pip install 'hfvid[demo]'") from error
    unknown = sorted(set(models) - set(TASKS))
    if unknown:
        raise ValueError(f"unknown methods {unknown}; known: {sorted(TASKS)}")
    if not models:
        raise ValueError("models is empty: give at least one {method: folder or Hub id}")

    def guarded(function):
        def call(*args):
            try:
                return function(*args)
            except (ValueError, FileNotFoundError) as error:  # bad input: show it in the UI, keep the server up
                raise gr.Error(str(error)) from error
        return call

    with gr.Blocks(title="hfvid demo") as demo:
        gr.Markdown("# hfvid: face and video methods on the Hugging Face stack\nOne tab per method: upload, "
                    "press **Run**, see the drawn result and the pipeline's JSON.")
        for method, location in models.items():
            runner = _Runner(method, location, device)
            with gr.Tab(method, id=method):
                gr.Markdown(f"`{runner.task}` pipeline, model `{location}`" + NOTES.get(method, ""))
                if runner.kind in ("face_image", "object_image"):
                    with gr.Row():
                        with gr.Column():
                            image = gr.Image(type="pil", label="image", elem_id=f"{method}-input")
                            box = gr.Textbox(label="box x1, y1, x2, y2 (empty: use the detector)",
                                             elem_id=f"{method}-box")
                            detector = gr.Radio(["mtcnn", "full_image"] if runner.kind == "face_image"
                                                else ["full_image"], value="mtcnn" if runner.kind == "face_image"
                                                else "full_image", label="face detector when no box")
                            button = gr.Button("Run", variant="primary", elem_id=f"{method}-run")
                        with gr.Column():
                            drawn = gr.Image(type="pil", label="result", elem_id=f"{method}-output")
                            result = gr.JSON(label="pipeline output", elem_id=f"{method}-json")
                    if runner.kind == "face_image":
                        gr.Examples([list(_face_example())], inputs=[image, box])
                    button.click(guarded(partial(run_image, runner)), [image, box, detector], [drawn, result])
                elif runner.kind == "labelled_image":
                    with gr.Row():
                        with gr.Column():
                            image = gr.Image(type="pil", label="image", elem_id=f"{method}-input")
                            labels = gr.Textbox(label="candidate labels (comma separated)", elem_id=f"{method}-labels")
                            button = gr.Button("Run", variant="primary", elem_id=f"{method}-run")
                        with gr.Column():
                            drawn = gr.Image(type="pil", label="scores", elem_id=f"{method}-output")
                            result = gr.JSON(label="pipeline output", elem_id=f"{method}-json")
                    button.click(guarded(partial(run_labelled_image, runner)), [image, labels], [drawn, result])
                elif runner.kind == "gannotation":
                    with gr.Row():
                        with gr.Column():
                            image = gr.Image(type="pil", label="source face", elem_id=f"{method}-input")
                            landmarks = gr.Textbox(label="source landmarks: JSON [[x, y], ...] in image pixels",
                                                   elem_id=f"{method}-landmarks")
                            frames = gr.Slider(2, 16, value=8, step=1, label="frames (a rotation of the source shape)")
                            button = gr.Button("Run", variant="primary", elem_id=f"{method}-run")
                        with gr.Column():
                            drawn = gr.Image(type="pil", label="synthesised sequence", elem_id=f"{method}-output")
                            video = gr.Video(label="as a video")
                            result = gr.JSON(label="target landmarks", elem_id=f"{method}-json")
                    button.click(guarded(partial(run_gannotation, runner)), [image, landmarks, frames],
                                 [drawn, video, result])
                else:
                    with gr.Row():
                        with gr.Column():
                            video = gr.Video(label="video", elem_id=f"{method}-input")
                            inputs = [video]
                            if runner.kind == "labelled_video":
                                inputs.append(gr.Textbox(label="candidate labels (comma separated)",
                                                         elem_id=f"{method}-labels"))
                            if runner.kind == "affect_video":
                                inputs.append(gr.Checkbox(value=False, label="the video is a face crop (no detection)",
                                                          elem_id=f"{method}-crop"))
                            button = gr.Button("Run", variant="primary", elem_id=f"{method}-run")
                        with gr.Column():
                            drawn = gr.Image(type="pil", label="result", elem_id=f"{method}-output")
                            drawn_video = gr.Video(label="drawn video", elem_id=f"{method}-video")
                            result = gr.JSON(label="pipeline output", elem_id=f"{method}-json")
                    button.click(guarded(partial(run_video, runner)), inputs, [drawn, drawn_video, result])
    return demo


def launch_demo(model=None, models=(), host: str = "127.0.0.1", port: int = 7860, share: bool = False,
                device: str = "cpu", block: bool = True):
    """Resolve the models (see :func:`resolve_models`), build the app and serve it; returns the Blocks."""
    demo = build_demo(resolve_models(model, models), device=device)
    demo.launch(server_name=host, server_port=port, share=share, prevent_thread_lock=not block)
    return demo


__all__ = ["TASKS", "build_demo", "launch_demo", "method_of_folder", "resolve_models"]
