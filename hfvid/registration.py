"""THE one table of hfvid: every method's model type, classes, processor, pipeline tasks, script and status.

Registration puts each config/model/processor into the transformers Auto classes, each pipeline task into
``PIPELINE_REGISTRY`` and the PEFT adapter types into PEFT. Adding a method means adding one ``Method`` entry here.
Classes are named as ``"module:Class"`` strings so this table stays readable and imports happen in one place.

``import hfvid`` does not import them (that was ~70 hfvid modules plus torch, torchvision, peft and scipy): it
calls :func:`register_on_first_use`, which registers each part the moment the machinery it extends is imported:

* the Auto classes when ``transformers.models.auto.configuration_auto`` is imported (every Auto class, every
  ``from_pretrained`` of a PreTrainedModel and every pipeline imports it first);
* the pipeline tasks when ``transformers.pipelines`` is imported (``from transformers import pipeline``);
* the PEFT adapter types when ``peft`` is imported.

A registration cannot run inside the import that triggered it: the importing module (e.g. ``modeling_auto``, or an
hfvid module that imports ``PreTrainedModel``) is only half initialised then. So a small import-system finder
tracks the imports of ``hfvid``, ``transformers``, ``peft`` and ``diffusers`` modules and runs the registrations that
became due when the outermost of those imports has finished, i.e. before the user's import statement returns.
Registration stays complete (``AutoModel``, ``AutoImageProcessor``, ``pipeline(task)`` and PEFT all know hfvid's
types by the time they can be used); what is lazy is only *when* hfvid's modules are imported. Registering is
all-or-nothing per kind: the first Auto-class use imports every hfvid model module. :func:`register_all` registers
everything now (idempotent).
"""

import importlib.abc
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module


@dataclass(frozen=True)
class PipelineTask:
    task: str
    pipeline_class: str
    auto_model: str  # name of the transformers Auto class the task loads models with
    type: str = "image"


@dataclass(frozen=True)
class Method:
    name: str  # folder under hfvid/models and model_cards/<name>.md
    title: str
    paper: str  # arXiv id
    model_type: str
    config: str | None = None  # None: no transformers config/model classes of its own (e.g. a PEFT adapter)
    models: dict[str, str] = field(default_factory=dict)  # Auto class name -> model class
    image_processor: str | None = None
    video_processor: str | None = None  # registered with AutoVideoProcessor
    processor: str | None = None  # a ProcessorMixin, registered with AutoProcessor
    pipelines: tuple[PipelineTask, ...] = ()
    training_script: str | None = None
    quickstart: str | None = None  # recipe "module:function" run by `hfvid quickstart`
    peft_registration: str | None = None  # "module:function" that makes PEFT know an hfvid adapter type
    exports: tuple[str, ...] = ()  # further public "module:Name"s offered as ``hfvid.<Name>`` (beyond the above)
    status: str = "planned"


METHODS: tuple[Method, ...] = (
    Method(
        name="contrastive_au",
        title="Contrastive AU: semi-supervised AU intensity from 2% random labelled frames (contrastive pre-training)",
        paper="2011.01864",
        model_type="hfvid-contrastive-au",
        config="hfvid.models.contrastive_au:ContrastiveAUConfig",
        models={
            "AutoModel": "hfvid.models.contrastive_au:ContrastiveAUModel",
            "AutoModelForPreTraining": "hfvid.models.contrastive_au:ContrastiveAUForPreTraining",
            # served by the shared hfvid-au-intensity pipeline (registered by affective_process) through this class
            "AutoModelForVideoClassification": "hfvid.models.contrastive_au:ContrastiveAUForAUIntensity",
        },
        video_processor="hfvid.models.affective_process:AffectiveProcessVideoProcessor",
        training_script="training_scripts/train_contrastive_au.py",
        quickstart="hfvid.quickstart.contrastive_au:run",
        status="implemented",
    ),
    Method(
        name="rest",
        title="REST: REtrieve & Self-Train a generative captioner for (zero-shot) action recognition",
        paper="2209.15000",
        model_type="hfvid-rest",
        config="hfvid.models.rest:RESTConfig",
        models={
            "AutoModelForImageTextToText": "hfvid.models.rest:RESTForVideoCaptioning",
            "AutoModel": "hfvid.models.rest:RESTForVideoCaptioning",
            # transformers has no zero-shot *video* Auto class; the image one is the closest contract
            "AutoModelForZeroShotImageClassification": "hfvid.models.rest:RESTForZeroShotVideoClassification",
        },
        video_processor="hfvid.models.rest:RESTVideoProcessor",
        processor="hfvid.models.rest:RESTProcessor",
        pipelines=(
            PipelineTask(
                task="hfvid-video-captioning",
                pipeline_class="hfvid.pipelines.rest:VideoCaptioningPipeline",
                auto_model="AutoModelForImageTextToText",
                type="video",
            ),
            PipelineTask(
                task="hfvid-zero-shot-video-classification",
                pipeline_class="hfvid.pipelines.rest:ZeroShotVideoClassificationPipeline",
                auto_model="AutoModelForZeroShotImageClassification",
                type="video",
            ),
        ),
        training_script="training_scripts/train_rest.py",
        quickstart="hfvid.quickstart.rest:run",
        status="implemented",
    ),
    Method(
        name="affective_process",
        title="Affective Processes: stochastic temporal context for valence/arousal and AU intensity",
        paper="2103.13372",
        model_type="hfvid-affective-process",
        config="hfvid.models.affective_process:AffectiveProcessConfig",
        models={
            "AutoModel": "hfvid.models.affective_process:AffectiveProcessModel",
            # transformers has no per-frame video regression Auto class; the closest is video classification
            "AutoModelForVideoClassification": "hfvid.models.affective_process:AffectiveProcessForAffectEstimation",
        },
        video_processor="hfvid.models.affective_process:AffectiveProcessVideoProcessor",
        pipelines=(
            PipelineTask(task="hfvid-affect", pipeline_class="hfvid.pipelines.affect:AffectEstimationPipeline",
                         auto_model="AutoModelForVideoClassification", type="video"),
            PipelineTask(task="hfvid-au-intensity", pipeline_class="hfvid.pipelines.affect:AUIntensityPipeline",
                         auto_model="AutoModelForVideoClassification", type="video"),
        ),
        training_script="training_scripts/train_affective_process.py",
        quickstart="hfvid.quickstart.affective_process:run",
        status="implemented",
    ),
    Method(
        name="keypoints_to_landmarks",
        title="Keypoints-to-Landmarks: unsupervised object landmark discovery by self-training correspondence",
        paper="2205.15895",
        model_type="hfvid-keypoints-to-landmarks",
        config="hfvid.models.keypoints_to_landmarks:KeypointsToLandmarksConfig",
        models={
            "AutoModel": "hfvid.models.keypoints_to_landmarks:KeypointsToLandmarksModel",
            "AutoModelForPoseEstimation": "hfvid.models.keypoints_to_landmarks:KeypointsToLandmarksForLandmarkDetection",
        },
        image_processor="hfvid.models.keypoints_to_landmarks:KeypointsToLandmarksImageProcessor",
        pipelines=(
            PipelineTask(
                task="hfvid-unsupervised-landmarks",
                pipeline_class="hfvid.pipelines.unsupervised_landmarks:UnsupervisedLandmarkDetectionPipeline",
                auto_model="AutoModelForPoseEstimation",
            ),
        ),
        exports=(
            "hfvid.models.keypoints_to_landmarks:CornerKeypointInitializer",
            "hfvid.models.keypoints_to_landmarks:SuperPointKeypointInitializer",
            "hfvid.metrics.landmark_regression:landmark_regression_nme",
        ),
        training_script="training_scripts/train_keypoints_to_landmarks.py",
        quickstart="hfvid.quickstart.keypoints_to_landmarks:run",
        status="implemented",
    ),
    Method(
        name="bmvit",
        title="BMViT: bipartite matching on video transformer tokens (single-stage action localisation)",
        paper="2312.17686",
        model_type="hfvid-bmvit",
        config="hfvid.models.bmvit:BMViTConfig",
        models={"AutoModel": "hfvid.models.bmvit:BMViTForActionLocalization"},
        video_processor="hfvid.models.bmvit:BMViTVideoProcessor",
        pipelines=(
            PipelineTask(
                task="hfvid-video-action-localization",
                pipeline_class="hfvid.pipelines.video_action_localization:VideoActionLocalizationPipeline",
                auto_model="AutoModel",
                type="video",
            ),
        ),
        exports=(
            "hfvid.models.bmvit:BMViTModel",
        ),
        training_script="training_scripts/train_bmvit.py",
        quickstart="hfvid.quickstart.bmvit:run",
        status="implemented",
    ),
    Method(
        name="mvitv2",
        title="MViTv2 video backbone (torchvision mvit_v2_s weights)",
        paper="2112.01526",
        model_type="hfvid-mvitv2",
        config="hfvid.models.mvitv2:MViTv2Config",
        models={
            "AutoModel": "hfvid.models.mvitv2:MViTv2Model",
            "AutoBackbone": "hfvid.models.mvitv2:MViTv2Backbone",
            "AutoModelForVideoClassification": "hfvid.models.mvitv2:MViTv2ForVideoClassification",
        },
        video_processor="hfvid.models.mvitv2:MViTv2VideoProcessor",  # serves the stock "video-classification" task
        training_script="training_scripts/train_mvitv2.py",
        quickstart="hfvid.quickstart.mvitv2:run",
        status="implemented",
    ),
    Method(
        name="gannotation",
        title="GANnotation: landmark-guided face-to-face synthesis (recurrent cycle consistency), a diffusers pipeline",
        paper="2004.07165",
        model_type="hfvid-gannotation",
        config="hfvid.models.gannotation:GANnotationConfig",
        # the critic shares the config; it is loaded as the pipeline's `critic` component or by its class
        models={"AutoModel": "hfvid.models.gannotation:GANnotationGenerator"},
        exports=(
            "hfvid.models.gannotation:GANnotationDiscriminator",
            "hfvid.models.gannotation.pipeline_gannotation:GANnotationPipeline",
            "hfvid.models.gannotation.pipeline_gannotation:GANnotationPipelineOutput",
        ),
        training_script="training_scripts/train_gannotation.py",
        quickstart="hfvid.quickstart.gannotation:run",
        status="implemented",
    ),
    Method(
        name="face_pretraining",
        title="Facial representation pre-training (FRL) + few-shot face benchmark",
        paper="2103.16554",
        model_type="hfvid-face-pretraining",
        config="hfvid.models.face_pretraining:FaceRepresentationConfig",
        models={
            "AutoModel": "hfvid.models.face_pretraining:FaceRepresentationModel",
            "AutoModelForPreTraining": "hfvid.models.face_pretraining:FaceRepresentationForSwAVPreTraining",
            "AutoModelForPoseEstimation": "hfvid.models.face_pretraining:FaceRepresentationForLandmarkDetection",
            "AutoModelForImageClassification":
                "hfvid.models.face_pretraining:FaceRepresentationForExpressionRecognition",
        },
        image_processor="hfvid.models.face_pretraining:FaceRepresentationImageProcessor",
        pipelines=(
            PipelineTask(
                task="hfvid-face-embedding",
                pipeline_class="hfvid.pipelines.face_embedding:FaceEmbeddingPipeline",
                auto_model="AutoModel",
            ),
        ),
        exports=(
            "hfvid.models.face_pretraining:FaceRepresentationForAUIntensity",
            "hfvid.models.face_pretraining:FaceRepresentationFor3DFaceAlignment",
            "hfvid.models.face_pretraining:FaceRepresentationForFaceRecognition",
        ),
        training_script="training_scripts/pretrain_face_representation.py",
        quickstart="hfvid.quickstart.face_pretraining:run",
        status="implemented",
    ),
    Method(
        name="bayesian_prompt",
        title="Bayesian Prompt Learning (BPL) for CLIP, a PEFT adapter",
        paper="2210.02390",
        model_type="hfvid-bayesian-prompt",  # a PEFT adapter: adapter_config.json has peft_type HFVID_BAYESIAN_PROMPT
        pipelines=(
            PipelineTask(
                task="hfvid-zero-shot-image-classification",
                pipeline_class="hfvid.pipelines.zero_shot_image_classification:"
                "BayesianZeroShotImageClassificationPipeline",
                auto_model="AutoModel",
                type="multimodal",
            ),
        ),
        exports=(
            "hfvid.models.bayesian_prompt:BayesianPromptConfig",
            "hfvid.models.bayesian_prompt:BayesianPromptModel",
            "hfvid.models.bayesian_prompt:BayesianPromptLayer",
            "hfvid.models.bayesian_prompt:BayesianPromptOutput",
            "hfvid.models.bayesian_prompt:bayesian_prompt_classify",
            "hfvid.models.bayesian_prompt:build_class_prompts",
            "hfvid.models.bayesian_prompt:resolve_ctx_init",
        ),
        training_script="training_scripts/train_bayesian_prompt.py",
        quickstart="hfvid.quickstart.bayesian_prompt:run",
        peft_registration="hfvid.models.bayesian_prompt.registration:register_bayesian_prompt",
        status="implemented",
    ),
    Method(
        name="memsvd",
        title="MeMSVD: long-term video memory through incremental SVD",
        paper="2406.07191",
        model_type="hfvid-memsvd",
        config="hfvid.models.memsvd:MeMSVDConfig",
        models={
            "AutoModel": "hfvid.models.memsvd:MeMSVDModel",
            # transformers has no action-detection Auto class; AVA is person-box detection with action labels
            "AutoModelForObjectDetection": "hfvid.models.memsvd:MeMSVDForActionDetection",
            "AutoModelForVideoClassification": "hfvid.models.memsvd:MeMSVDForVideoClassification",
        },
        pipelines=(
            PipelineTask(
                task="hfvid-long-term-action-detection",
                pipeline_class="hfvid.pipelines.long_term_action_detection:LongTermActionDetectionPipeline",
                auto_model="AutoModelForObjectDetection",
                type="video",
            ),
        ),
        exports=(
            "hfvid.models.memsvd:MeMSVDMemory",
            "hfvid.models.memsvd:MeMSVDFeatureBankProcessor",
        ),
        training_script="training_scripts/train_memsvd.py",
        quickstart="hfvid.quickstart.memsvd:run",
        status="implemented",
    ),
    Method(
        name="subpixel_fan",
        title="Subpixel heatmap regression (SH-FAN)",
        paper="2111.02360",
        model_type="hfvid-subpixel-fan",
        config="hfvid.models.subpixel_fan:SubpixelFANConfig",
        models={
            "AutoModel": "hfvid.models.subpixel_fan:SubpixelFANModel",
            "AutoModelForPoseEstimation": "hfvid.models.subpixel_fan:SubpixelFANForFacialLandmarkDetection",
        },
        image_processor="hfvid.models.subpixel_fan:SubpixelFANImageProcessor",
        pipelines=(
            PipelineTask(
                task="hfvid-facial-landmarks",
                pipeline_class="hfvid.pipelines.facial_landmarks:FacialLandmarkDetectionPipeline",
                auto_model="AutoModelForPoseEstimation",
            ),
        ),
        training_script="training_scripts/train_subpixel_fan.py",
        quickstart="hfvid.quickstart.subpixel_fan:run",
        status="implemented",
    ),
)


SHARED_EXPORTS: tuple[str, ...] = ("hfvid.hub:render_model_card", "hfvid.hub:publish")  # not tied to a method


def public_names() -> dict[str, str]:
    """``{Name: module}`` of everything ``hfvid.<Name>`` offers: every class the table names plus the exports.

    The one source of ``hfvid``'s lazy attributes (read without importing any of those modules).
    """
    paths = list(SHARED_EXPORTS)
    for method in METHODS:
        paths += [method.config, *method.models.values(), method.image_processor, method.video_processor,
                  method.processor, *(task.pipeline_class for task in method.pipelines), *method.exports]
    names: dict[str, str] = {}
    for path in filter(None, paths):
        module, _, name = path.partition(":")
        if names.setdefault(name, module) != module:
            raise ValueError(f"hfvid.{name} is named twice: in {names[name]} and in {module}")
    return names


def load_object(path: str):
    """``"package.module:Name"`` -> the object."""
    module, _, name = path.partition(":")
    return getattr(import_module(module), name)


_done: set[str] = set()  # the parts registered so far: "auto", "pipelines", "peft"


def register_auto_classes() -> None:
    """Register every config, model and (image/video) processor with the transformers Auto classes (idempotent)."""
    if "auto" in _done:
        return
    _done.add("auto")
    import transformers
    from transformers import AutoConfig, AutoImageProcessor

    for method in METHODS:
        config_class = load_object(method.config) if method.config else None
        if config_class is not None:
            AutoConfig.register(method.model_type, config_class, exist_ok=True)
        for auto_name, model_path in method.models.items():
            getattr(transformers, auto_name).register(config_class, load_object(model_path), exist_ok=True)
        if method.image_processor:
            processor_class = load_object(method.image_processor)
            AutoImageProcessor.register(
                config_class,
                image_processor_classes={"torchvision": processor_class, "pil": processor_class},
                exist_ok=True,
            )
        if method.video_processor:
            from transformers import AutoVideoProcessor

            AutoVideoProcessor.register(config_class, video_processor_class=load_object(method.video_processor),
                                        exist_ok=True)
        if method.processor:
            from transformers import AutoProcessor

            AutoProcessor.register(config_class, load_object(method.processor), exist_ok=True)


def register_pipeline_tasks() -> None:
    """Register every pipeline task with ``transformers.pipelines.PIPELINE_REGISTRY`` (idempotent)."""
    if "pipelines" in _done:
        return
    _done.add("pipelines")
    import transformers
    from transformers.pipelines import PIPELINE_REGISTRY

    for method in METHODS:
        for task in method.pipelines:
            PIPELINE_REGISTRY.register_pipeline(
                task.task,
                pipeline_class=load_object(task.pipeline_class),
                pt_model=getattr(transformers, task.auto_model),
                type=task.type,
            )


def register_peft_methods() -> None:
    """Make PEFT know hfvid's adapter types (idempotent; see e.g. ``hfvid.models.bayesian_prompt.registration``)."""
    if "peft" in _done:
        return
    _done.add("peft")
    for method in METHODS:
        if method.peft_registration:
            load_object(method.peft_registration)()


# the module whose import means that a kind of registration is about to be needed -> what registers it
_TRIGGERS: dict[str, Callable[[], None]] = {
    "transformers.models.auto.configuration_auto": register_auto_classes,
    "transformers.pipelines": register_pipeline_tasks,
    "peft": register_peft_methods,
}
_TRACKED = ("hfvid", "transformers", "peft", "diffusers")  # packages a registration imports from


def register_all() -> None:
    """Register everything now: Auto classes, pipeline tasks and PEFT adapter types (idempotent)."""
    register_auto_classes()
    register_pipeline_tasks()
    register_peft_methods()
    _remove_finder()


class _TrackedLoader(importlib.abc.Loader):
    """Wraps a module's loader: counts nested tracked imports and runs the registrations due once they are done."""

    def __init__(self, loader, finder: "_RegisterOnFirstUse", name: str):
        self._loader, self._finder, self._name = loader, finder, name

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        finder = self._finder
        finder.depth += 1
        try:
            self._loader.exec_module(module)
        finally:
            finder.depth -= 1
        if self._name in _TRIGGERS:
            finder.due.append(self._name)
        if finder.depth == 0:
            finder.run_due()

    def __getattr__(self, name):  # get_source, get_resource_reader, is_package, ...
        if name.startswith("_"):  # never recurse (e.g. while half constructed)
            raise AttributeError(name)
        return getattr(self._loader, name)


class _RegisterOnFirstUse(importlib.abc.MetaPathFinder):
    """Finds nothing itself: it wraps the loaders of tracked modules that the other finders find."""

    def __init__(self):
        self.depth = 0  # tracked imports in progress (plus one while registrations run)
        self.due: list[str] = []  # triggers imported whose registration has not run yet

    def find_spec(self, fullname, path, target=None):
        if fullname.partition(".")[0] not in _TRACKED:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _TrackedLoader(spec.loader, self, fullname)
        return spec

    def run_due(self) -> None:
        self.depth += 1  # imports made by the registrations themselves must not start another round
        try:
            while self.due:
                _TRIGGERS[self.due.pop(0)]()
        finally:
            self.depth -= 1
        if _done >= {"auto", "pipelines", "peft"}:
            _remove_finder()


_finder: _RegisterOnFirstUse | None = None


def _remove_finder() -> None:
    global _finder
    if _finder is not None and _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
    _finder = None


def register_on_first_use() -> None:
    """Register each part when its machinery is first imported (now, for what is already imported); see above."""
    global _finder
    if _finder is not None or _done >= {"auto", "pipelines", "peft"}:
        return
    _finder = _RegisterOnFirstUse()
    sys.meta_path.insert(0, _finder)
    _finder.due = [name for name in _TRIGGERS if name in sys.modules]
    if _finder.due:
        _finder.run_due()


__all__ = [
    "METHODS",
    "Method",
    "PipelineTask",
    "load_object",
    "public_names",
    "register_all",
    "register_auto_classes",
    "register_on_first_use",
    "register_peft_methods",
    "register_pipeline_tasks",
]
