"""The input contract of every pipeline (issue 15): one bad-input matrix over every registered hfvid task, the
diffusers GANnotationPipeline and the stock `video-classification` task with the MViTv2 processor.

Every bad input must raise the expected exception *naming the argument or value*; every good input must give a
result that is strict JSON (`json.dumps(result, allow_nan=False)`). Tiny models are built once per session.
"""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from bad_inputs import write_audio, write_corrupt_video, write_truncated_jpeg
from PIL import Image

import hfvid  # noqa: F401  (registers the tasks)
from hfvid.data.video import write_video
from hfvid.registration import METHODS

NAN = float("nan")
SIZE = 32  # every tiny model sees 32x32 frames / 64x64 images
FACE = [4.0, 4.0, 28.0, 28.0]


# ---------------------------------------------------------------- tiny models (built lazily, once per session)


def _fan(path):
    from hfvid import SubpixelFANImageProcessor, SubpixelFANConfig, SubpixelFANForFacialLandmarkDetection

    config = SubpixelFANConfig(num_stacks=1, hidden_size=16, hourglass_depth=2, image_size=32, heatmap_size=8,
                               num_landmarks=5, landmark_scheme="custom", flip_permutation=[1, 0, 2, 4, 3])
    SubpixelFANForFacialLandmarkDetection(config).eval().save_pretrained(path)
    SubpixelFANImageProcessor(crop_size=32).save_pretrained(path)


def _k2l(path):
    from hfvid import KeypointsToLandmarksConfig, KeypointsToLandmarksForLandmarkDetection, KeypointsToLandmarksImageProcessor

    config = KeypointsToLandmarksConfig(num_landmarks=4, num_clusters=8, hidden_size=16, stem_channels=8,
                                        hourglass_depth=2, image_size=32, heatmap_size=8, descriptor_dim=8,
                                        num_groups=4, flip_permutation=[1, 0, 2, 3])
    KeypointsToLandmarksForLandmarkDetection(config).save_pretrained(path)
    KeypointsToLandmarksImageProcessor(crop_size=32).save_pretrained(path)


def _frl(path):
    from hfvid import FaceRepresentationConfig, FaceRepresentationImageProcessor, FaceRepresentationModel

    config = FaceRepresentationConfig(embedding_size=4, hidden_sizes=[4, 8, 8, 16], depths=[1, 1, 1, 1],
                                      layer_type="basic", image_size=32)
    FaceRepresentationModel(config).save_pretrained(path)
    FaceRepresentationImageProcessor(image_size=32).save_pretrained(path)


def _affect(path, **overrides):
    from hfvid import AffectiveProcessConfig, AffectiveProcessForAffectEstimation, AffectiveProcessVideoProcessor

    config = AffectiveProcessConfig(
        backbone_config={"embedding_size": 8, "hidden_sizes": [16], "depths": [1], "layer_type": "basic"},
        feature_proj_dim=16, label_embed_dim=8, encoder_hidden_sizes=[16, 16], latent_hidden_size=16, latent_dim=4,
        decoder_hidden_sizes=[16], image_size=32, window_size=16, window_stride=8, **overrides)
    AffectiveProcessForAffectEstimation(config).save_pretrained(path)
    AffectiveProcessVideoProcessor(size={"height": 32, "width": 32}).save_pretrained(path)


def _au(path):
    _affect(path, num_outputs=3, output_names=["AU01", "AU06", "AU12"], output_range=[0.0, 5.0])


def _clip(path):
    from hfvid.data.synthetic_images import tiny_clip

    clip, processor = tiny_clip()
    clip.save_pretrained(path)
    processor.save_pretrained(path)


def _bpl(path, ctx):
    from peft import get_peft_model
    from transformers import AutoModel, AutoTokenizer

    from hfvid import BayesianPromptConfig, resolve_ctx_init

    base = ctx.checkpoint("clip")
    config = resolve_ctx_init(BayesianPromptConfig(num_samples_eval=2), AutoTokenizer.from_pretrained(base))
    peft_model = get_peft_model(AutoModel.from_pretrained(base), config)
    peft_model.peft_config["default"].base_model_name_or_path = str(base)
    peft_model.save_pretrained(path)


def _rest(path):
    from hfvid.models.rest import RESTForZeroShotVideoClassification
    from hfvid.data.rest_videos import tiny_synthetic_components

    config, processor = tiny_synthetic_components(num_frames=2, image_size=16, hidden_size=32, layers=1)
    RESTForZeroShotVideoClassification(config).save_pretrained(path)
    processor.save_pretrained(path)


def _bmvit(path):
    from hfvid.models.bmvit import BMViTConfig, BMViTForActionLocalization, BMViTVideoProcessor

    backbone = {"image_size": [32, 32], "num_frames": 4, "embed_dim": 16, "num_heads": [1, 2],
                "output_channels": [16, 32], "stride_q": [[1, 1, 1], [1, 2, 2]], "stride_kv": [[1, 4, 4], [1, 2, 2]]}
    BMViTForActionLocalization(BMViTConfig(num_action_labels=3, backbone_config=backbone)).save_pretrained(path)
    BMViTVideoProcessor(size={"height": 32, "width": 32}, num_frames=4, frame_stride=2, base_fps=8.0,
                        num_action_labels=3).save_pretrained(path)


def _memsvd(path):
    from hfvid.models.memsvd import MeMSVDConfig, MeMSVDForActionDetection

    config = MeMSVDConfig(feature_dim=3, num_components=2, max_rank=3, latent_dim=8, num_labels=4,
                          max_features_per_second=5, memory_window_seconds=20)
    MeMSVDForActionDetection(config).eval().save_pretrained(path)


def _mvitv2(path):
    from hfvid import MViTv2Config, MViTv2ForVideoClassification, MViTv2VideoProcessor

    config = MViTv2Config(image_size=[32, 32], num_frames=4, embed_dim=16, num_heads=[1, 2],
                          output_channels=[16, 32], stride_q=[[1, 1, 1], [1, 2, 2]],
                          stride_kv=[[1, 4, 4], [1, 2, 2]], stochastic_depth_prob=0.0, num_labels=3)
    MViTv2ForVideoClassification(config).save_pretrained(path)
    MViTv2VideoProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                         num_frames=4).save_pretrained(path)


BUILDERS = {"fan": _fan, "k2l": _k2l, "frl": _frl, "affect": _affect, "au": _au, "clip": _clip, "bpl": _bpl,
            "rest": _rest, "bmvit": _bmvit, "memsvd": _memsvd, "mvitv2": _mvitv2}
TASK_CHECKPOINT = {  # task -> (checkpoint kind, checkpoint of another method, what its error must name)
    "hfvid-facial-landmarks": ("fan", "memsvd", r"MeMSVD|hfvid-memsvd"),
    "hfvid-unsupervised-landmarks": ("k2l", "memsvd", r"MeMSVD|hfvid-memsvd"),
    "hfvid-face-embedding": ("frl", "fan", r"SubpixelFAN|hfvid-subpixel-fan"),
    "hfvid-affect": ("affect", "mvitv2", r"MViTv2|hfvid-mvitv2"),
    "hfvid-au-intensity": ("au", "affect", r"valence|arousal"),
    "hfvid-zero-shot-image-classification": ("bpl", "clip", r"BayesianPrompt.*CLIPModel"),
    "hfvid-video-captioning": ("rest", "clip", r"CLIP|'clip'"),
    "hfvid-zero-shot-video-classification": ("rest", "clip", r"REST.*'clip'"),
    "hfvid-video-action-localization": ("bmvit", "mvitv2", r"BMViT.*'hfvid-mvitv2'"),
    "hfvid-long-term-action-detection": ("memsvd", "bmvit", r"BMViTConfig"),
    "video-classification": ("mvitv2", "bmvit", r"BMViTConfig"),
}


class Context:
    """Checkpoints, pipelines and input files, each made the first time a case asks for it."""

    def __init__(self, root):
        self.root, self._checkpoints, self._pipes = root, {}, {}
        self.files = self._files(root / "files")

    def checkpoint(self, kind):
        if kind not in self._checkpoints:
            path = self.root / kind
            torch.manual_seed(0)
            builder = BUILDERS[kind]
            builder(path, self) if kind == "bpl" else builder(path)
            self._checkpoints[kind] = path
        return str(self._checkpoints[kind])

    def pipe(self, task):
        if task not in self._pipes:
            if task == "gannotation":
                from hfvid import GANnotationConfig, GANnotationGenerator, GANnotationPipeline

                config = GANnotationConfig(num_landmarks=68, base_channels=8, num_res_blocks=1, image_size=SIZE,
                                           critic_num_layers=3, critic_base_channels=8)
                pipe = GANnotationPipeline(synthesizer=GANnotationGenerator(config).eval())
                pipe.set_progress_bar_config(disable=True)
                self._pipes[task] = pipe
            else:
                self._pipes[task] = self.load(task, self.checkpoint(TASK_CHECKPOINT[task][0]))
        return self._pipes[task]

    @staticmethod
    def load(task, path):
        from transformers import pipeline

        return pipeline(task, model=path, device="cpu")

    @staticmethod
    def _files(folder):
        folder.mkdir(parents=True)
        rng = np.random.default_rng(0)
        frames = [rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8) for _ in range(12)]
        image = folder / "face.png"
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(image)
        (folder / "empty.mp4").write_bytes(b"")
        return SimpleNamespace(
            image=str(image), frames=frames, video=str(write_video(folder / "clip.mp4", frames, fps=8)),
            missing_image=str(folder / "missing.jpg"), missing_video=str(folder / "missing.mp4"),
            truncated_jpeg=str(write_truncated_jpeg(folder / "truncated.jpg")),
            corrupt_video=str(write_corrupt_video(folder / "corrupt.mp4")),
            audio_only=str(write_audio(folder / "audio.m4a")), empty_video=str(folder / "empty.mp4"),
        )


@pytest.fixture(scope="session")
def ctx(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: a second thread only spins on a shared CPU
    yield Context(tmp_path_factory.mktemp("input-contract"))
    torch.set_num_threads(threads)


# ---------------------------------------------------------------- the matrix

LABELS = ["red circle", "blue square"]
Z, V, L, T, C = ("hfvid-zero-shot-image-classification", "hfvid-zero-shot-video-classification",
                 "hfvid-video-action-localization", "hfvid-long-term-action-detection", "video-classification")


def _gan_target():
    """A 68-point face shape in the middle of a 64x64 image."""
    from hfvid.data.synthetic import face_template

    return face_template() * 40 + 12


GAN_TARGET = _gan_target()


def image_cases(task, call):
    """The image pipelines (landmarks, embeddings): `call(pipe, images, **kwargs)`."""
    return [
        ("missing file", lambda c: call(c.pipe(task), c.files.missing_image), FileNotFoundError, "missing.jpg"),
        ("corrupt file", lambda c: call(c.pipe(task), c.files.truncated_jpeg), ValueError, "truncated.jpg"),
        ("wrong type", lambda c: call(c.pipe(task), 3), ValueError, "int"),
        ("NaN box", lambda c: call(c.pipe(task), c.files.image, boxes=[[NAN, 0, 10, 10]]), ValueError, "NaN"),
        ("reversed box", lambda c: call(c.pipe(task), c.files.image, boxes=[[30, 30, 10, 10]]), ValueError,
         "reversed"),
        ("off-image box", lambda c: call(c.pipe(task), c.files.image, boxes=[[100, 100, 120, 120]]), ValueError,
         "outside"),
        ("1x1 image", lambda c: call(c.pipe(task), Image.new("RGB", (1, 1))), ValueError, "1x1"),
        ("unknown keyword", lambda c: call(c.pipe(task), c.files.image, box=[FACE]), ValueError, "'box'"),
        ("empty input", lambda c: call(c.pipe(task), []), ValueError, "images"),
    ]


def video_face_cases(task):
    """`hfvid-affect` / `hfvid-au-intensity`: a video + one face box (or None) per frame."""
    n = 12
    return [
        ("missing file", lambda c: c.pipe(task)(c.files.missing_video), FileNotFoundError, "missing.mp4"),
        ("corrupt file", lambda c: c.pipe(task)(c.files.corrupt_video), ValueError, "corrupt.mp4"),
        ("wrong type", lambda c: c.pipe(task)(3), ValueError, "int"),
        ("NaN box", lambda c: c.pipe(task)(c.files.frames, boxes=[[NAN, 0, 9, 9]] * n), ValueError, "NaN"),
        ("off-image box", lambda c: c.pipe(task)(c.files.frames, boxes=[[90, 90, 99, 99]] * n), ValueError,
         "outside"),
        ("short boxes list", lambda c: c.pipe(task)(c.files.frames, boxes=[FACE] * (n - 2)), ValueError, "boxes"),
        ("unknown keyword", lambda c: c.pipe(task)(c.files.frames, box=[FACE] * n), ValueError, "'box'"),
        ("empty input", lambda c: c.pipe(task)([]), ValueError, "no frames"),
    ]


def rest_video_cases(task, **call):
    return [
        ("missing file", lambda c: c.pipe(task)(c.files.missing_video, **call), FileNotFoundError, "missing.mp4"),
        ("corrupt file", lambda c: c.pipe(task)(c.files.corrupt_video, **call), ValueError, "corrupt.mp4"),
        ("zero-byte file", lambda c: c.pipe(task)(c.files.empty_video, **call), ValueError, "empty.mp4"),
        ("no video stream", lambda c: c.pipe(task)(c.files.audio_only, **call), ValueError, "no video stream"),
        ("wrong type", lambda c: c.pipe(task)(3, **call), ValueError, "int"),
        ("NaN frames", lambda c: c.pipe(task)(np.full((2, 16, 16, 3), NAN, np.float32), **call), ValueError, "NaN"),
        ("unknown keyword", lambda c: c.pipe(task)(c.files.video, max_new_token=3, **call), ValueError,
         "'max_new_token'"),
        ("empty input", lambda c: c.pipe(task)([], **call), ValueError, "videos"),
    ]


CASES = {
    "hfvid-facial-landmarks": image_cases("hfvid-facial-landmarks", lambda pipe, x, **kw: pipe(x, **kw)),
    "hfvid-unsupervised-landmarks": image_cases("hfvid-unsupervised-landmarks", lambda pipe, x, **kw: pipe(x, **kw)),
    "hfvid-face-embedding": image_cases("hfvid-face-embedding", lambda pipe, x, **kw: pipe(x, **kw)) + [
        ("face_detector honoured", lambda c: c.pipe("hfvid-face-embedding")(
            c.files.image, face_detector=lambda image: [[NAN, 0, 5, 5]]), ValueError, "NaN"),
    ],
    "hfvid-affect": video_face_cases("hfvid-affect"),
    "hfvid-au-intensity": video_face_cases("hfvid-au-intensity"),
    "hfvid-zero-shot-image-classification": [
        ("missing file", lambda c: c.pipe(Z)(c.files.missing_image, candidate_labels=LABELS), FileNotFoundError,
         "missing.jpg"),
        ("corrupt file", lambda c: c.pipe(Z)(c.files.truncated_jpeg, candidate_labels=LABELS), ValueError,
         "truncated.jpg"),
        ("wrong type", lambda c: c.pipe(Z)(3, candidate_labels=LABELS), ValueError, "int"),
        ("NaN image", lambda c: c.pipe(Z)(np.full((8, 8, 3), NAN, np.float32), candidate_labels=LABELS), ValueError,
         "NaN"),
        ("1x1 image", lambda c: c.pipe(Z)(Image.new("RGB", (1, 1)), candidate_labels=LABELS), ValueError, "1x1"),
        ("labels not strings", lambda c: c.pipe(Z)(c.files.image, candidate_labels=[1, 2]), ValueError,
         "candidate_labels.*got 1"),
        ("unknown keyword", lambda c: c.pipe(Z)(c.files.image, candidate_labels=LABELS, top=1), ValueError, "'top'"),
        ("empty labels", lambda c: c.pipe(Z)(c.files.image, candidate_labels=[]), ValueError, "candidate_labels"),
        ("empty input", lambda c: c.pipe(Z)([], candidate_labels=LABELS), ValueError, "images"),
    ],
    "hfvid-video-captioning": rest_video_cases("hfvid-video-captioning") + [
        ("out-of-range length", lambda c: c.pipe("hfvid-video-captioning")(c.files.video, max_new_tokens=0),
         ValueError, "max_new_tokens"),
    ],
    "hfvid-zero-shot-video-classification": rest_video_cases(V, candidate_labels=LABELS) + [
        ("labels not strings", lambda c: c.pipe(V)(c.files.video, candidate_labels=[1, 2]), ValueError,
         "candidate_labels.*got 1"),
        ("out-of-range top_k", lambda c: c.pipe(V)(c.files.video, candidate_labels=LABELS, top_k=0), ValueError,
         "top_k"),
    ],
    "hfvid-video-action-localization": [
        ("missing file", lambda c: c.pipe(L)(c.files.missing_video), FileNotFoundError, "missing.mp4"),
        ("corrupt file", lambda c: c.pipe(L)(c.files.corrupt_video), ValueError, "corrupt.mp4"),
        ("wrong type", lambda c: c.pipe(L)(3), ValueError, "int"),
        ("NaN time", lambda c: c.pipe(L)(c.files.video, keyframe_timestamps=[NAN]), ValueError,
         "keyframe_timestamps: nan"),
        ("time after the end", lambda c: c.pipe(L)(c.files.video, keyframe_timestamps=[902]), ValueError,
         r"902.* after the end of the video \(duration 1.500 s"),
        ("negative time", lambda c: c.pipe(L)(c.files.video, keyframe_timestamps=[-1]), ValueError, "-1.0 is negative"),
        ("string time", lambda c: c.pipe(L)(c.files.video, keyframe_timestamps="12"), ValueError, "'12'"),
        ("unknown keyword", lambda c: c.pipe(L)(c.files.video, keyframes=[1]), ValueError, "'keyframes'"),
        ("empty input", lambda c: c.pipe(L)([]), ValueError, "empty list"),
    ],
    "hfvid-long-term-action-detection": [
        ("missing file", lambda c: c.pipe(T)(c.files.missing_video, boxes={1: [FACE]}), FileNotFoundError,
         "missing.mp4"),
        ("corrupt file", lambda c: c.pipe(T)(c.files.corrupt_video, boxes={1: [FACE]}), ValueError, "corrupt.mp4"),
        ("wrong type", lambda c: c.pipe(T)(3, boxes={1: [FACE]}), ValueError, "int"),
        ("NaN box", lambda c: c.pipe(T)(c.files.video, boxes={1: [[NAN, 0, 9, 9]]}), ValueError, r"boxes\[1\].*NaN"),
        ("reversed box", lambda c: c.pipe(T)(c.files.video, boxes={1: [[20, 20, 5, 5]]}), ValueError, "reversed"),
        ("off-image box", lambda c: c.pipe(T)(c.files.video, boxes={1: [[90, 90, 99, 99]]}), ValueError,
         "outside the 32x32"),
        ("time after the end", lambda c: c.pipe(T)(c.files.video, boxes={902: [FACE]}), ValueError,
         r"902.* after the end of the video \(duration 1.500 s"),
        ("time after the end of a stream", lambda c: c.pipe(T)(iter(c.files.frames), boxes={902: [FACE]}), ValueError,
         r"902.* after the end of the video"),
        ("string time", lambda c: c.pipe(T)(c.files.video, boxes={"12": [FACE]}), ValueError, "'12'"),
        ("no actor encoder", lambda c: c.pipe(T)(np.zeros((4, SIZE, SIZE, 5), np.uint8), boxes={1: [FACE]}),
         ValueError, "actor_encoder: .*VideoBackboneActorEncoder"),
        ("unknown keyword", lambda c: c.pipe(T)(c.files.video, boxes={1: [FACE]}, keyframe=[1]), ValueError,
         "'keyframe'"),
        ("empty input", lambda c: c.pipe(T)([], boxes={1: [FACE]}), ValueError, "no frames"),
    ],
    "gannotation": [
        ("missing file", lambda c: c.pipe("gannotation")(c.files.missing_image, GAN_TARGET), FileNotFoundError,
         "missing.jpg"),
        ("corrupt file", lambda c: c.pipe("gannotation")(c.files.truncated_jpeg, GAN_TARGET), ValueError,
         "truncated.jpg"),
        ("wrong type", lambda c: c.pipe("gannotation")(3, GAN_TARGET), ValueError, "int"),
        ("NaN points", lambda c: c.pipe("gannotation")(c.files.image, np.full((68, 2), NAN)), ValueError,
         "target_landmarks.*NaN"),
        ("wrong point count", lambda c: c.pipe("gannotation")(c.files.image, np.zeros((67, 2))), ValueError, "67"),
        ("unknown keyword", lambda c: c.pipe("gannotation")(c.files.image, GAN_TARGET, source_landmark=GAN_TARGET),
         TypeError, "'source_landmark'"),
        ("empty input", lambda c: c.pipe("gannotation")(c.files.image, []), ValueError, "target_landmarks"),
        ("wrong checkpoint", lambda c: gannotation_with_wrong_synthesizer(c), ValueError, "synthesizer"),
    ],
    "video-classification": [
        ("missing file", lambda c: c.pipe(C)(c.files.missing_video), FileNotFoundError, "missing.mp4"),
        ("corrupt file", lambda c: c.pipe(C)(c.files.corrupt_video), ValueError, "corrupt.mp4"),
        ("zero-byte file", lambda c: c.pipe(C)(c.files.empty_video), ValueError, "empty.mp4.*0 bytes"),
        ("no video stream", lambda c: c.pipe(C)(c.files.audio_only), ValueError, "audio.m4a.*no video stream"),
        ("directory", lambda c: c.pipe(C)(str(c.root)), ValueError, "directory"),
        ("wrong type", lambda c: c.pipe(C)(3), ValueError, "int"),
        ("unknown keyword", lambda c: c.pipe(C)(c.files.video, box=[FACE]), TypeError, "'box'"),
        ("out-of-range top_k", lambda c: c.pipe(C)(c.files.video, function_to_apply="max"), ValueError, "max"),
    ],
}


def gannotation_with_wrong_synthesizer(c):
    from transformers import AutoModelForPoseEstimation

    from hfvid import GANnotationPipeline

    return GANnotationPipeline(synthesizer=AutoModelForPoseEstimation.from_pretrained(c.checkpoint("fan")))


for task, (_, other, message) in TASK_CHECKPOINT.items():
    CASES[task].append(("wrong checkpoint", lambda c, task=task, other=other: c.load(task, c.checkpoint(other)),
                        ValueError, message))

GOOD = {
    "hfvid-facial-landmarks": lambda c: c.pipe("hfvid-facial-landmarks")(c.files.image, boxes=[FACE, [60, 60, 90, 90]]),
    "hfvid-unsupervised-landmarks": lambda c: c.pipe("hfvid-unsupervised-landmarks")(c.files.image, boxes=[FACE]),
    "hfvid-face-embedding": lambda c: c.pipe("hfvid-face-embedding")([c.files.image, c.files.image],
                                                                     boxes=[[FACE], []]),
    "hfvid-affect": lambda c: c.pipe("hfvid-affect")(c.files.frames, boxes=[FACE] * 10 + [None] * 2),
    "hfvid-au-intensity": lambda c: c.pipe("hfvid-au-intensity")(c.files.video, boxes=[None] + [FACE] * 11),
    Z: lambda c: c.pipe(Z)(c.files.image, candidate_labels="red circle, blue square"),
    "hfvid-video-captioning": lambda c: c.pipe("hfvid-video-captioning")(c.files.video, max_new_tokens=3,
                                                                         progress_bar=True),
    V: lambda c: c.pipe(V)(c.files.video, candidate_labels="red circle"),
    L: lambda c: c.pipe(L)(c.files.video, keyframe_timestamps=[0.5, 1.5], person_threshold=0.0, progress_bar=True),
    T: lambda c: c.pipe(T)(c.files.video, boxes={0: [FACE], 1: [FACE, [0, 0, 40, 40]]}, keyframes=[1],
                           progress_bar=True),
    "gannotation": lambda c: c.pipe("gannotation")(c.files.image, GAN_TARGET, output_type="np",
                                                   face_detector="full_image").landmarks.tolist(),  # noise image
    C: lambda c: c.pipe(C)(c.files.video, top_k=2),
}


def test_every_pipeline_is_in_the_matrix():
    tasks = {p.task for method in METHODS for p in method.pipelines}
    assert tasks <= set(CASES) and set(CASES) == tasks | {"gannotation", "video-classification"}
    for task, cases in CASES.items():
        kinds = {kind for kind, *_ in cases}
        assert len(kinds) >= 8, f"{task} covers only {len(kinds)} bad-input kinds"


@pytest.mark.parametrize(("task", "kind", "call", "error", "message"),
                         [(task, *case) for task, cases in CASES.items() for case in cases],
                         ids=[f"{task}-{case[0]}" for task, cases in CASES.items() for case in cases])
def test_bad_input_raises_a_clear_error(ctx, task, kind, call, error, message):
    with pytest.raises(error, match=message):
        call(ctx)


@pytest.mark.parametrize("task", list(GOOD))
def test_good_input_gives_strict_json(ctx, task):
    result = GOOD[task](ctx)
    assert result is not None and len(result) > 0
    json.dumps(result, allow_nan=False)
