"""THE one table of hfvid: every method's model type, classes, processor, pipeline tasks, script and status.

``import hfvid`` calls :func:`register_all`, which registers each config/model/processor with the transformers Auto
classes and each pipeline task with ``PIPELINE_REGISTRY``. Adding a method means adding one ``Method`` entry here.
Classes are named as ``"module:Class"`` strings so this table stays readable and imports happen in one place.
"""

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
        video_processor="hfvid.models.affective_process:AffectVideoProcessor",
        training_script="training_scripts/train_contrastive_au.py",
        quickstart="hfvid.models.contrastive_au.quickstart:run",
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
        quickstart="hfvid.models.rest.quickstart:run",
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
        video_processor="hfvid.models.affective_process:AffectVideoProcessor",
        pipelines=(
            PipelineTask(task="hfvid-affect", pipeline_class="hfvid.pipelines.affect:AffectEstimationPipeline",
                         auto_model="AutoModelForVideoClassification", type="video"),
            PipelineTask(task="hfvid-au-intensity", pipeline_class="hfvid.pipelines.affect:AUIntensityPipeline",
                         auto_model="AutoModelForVideoClassification", type="video"),
        ),
        training_script="training_scripts/train_affective_process.py",
        quickstart="hfvid.models.affective_process.quickstart:run",
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
        image_processor="hfvid.models.keypoints_to_landmarks:LandmarkDiscoveryImageProcessor",
        pipelines=(
            PipelineTask(
                task="hfvid-unsupervised-landmarks",
                pipeline_class="hfvid.pipelines.unsupervised_landmarks:UnsupervisedLandmarkDetectionPipeline",
                auto_model="AutoModelForPoseEstimation",
            ),
        ),
        training_script="training_scripts/train_keypoints_to_landmarks.py",
        quickstart="hfvid.models.keypoints_to_landmarks.quickstart:run",
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
        training_script="training_scripts/train_bmvit.py",
        quickstart="hfvid.models.bmvit.quickstart:run",
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
        quickstart="hfvid.models.mvitv2.quickstart:run",
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
        training_script="training_scripts/train_gannotation.py",
        quickstart="hfvid.models.gannotation.quickstart:run",
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
        training_script="training_scripts/pretrain_face_representation.py",
        quickstart="hfvid.models.face_pretraining.quickstart:run",
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
        training_script="training_scripts/train_bayesian_prompt.py",
        quickstart="hfvid.models.bayesian_prompt.quickstart:run",
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
        training_script="training_scripts/train_memsvd.py",
        quickstart="hfvid.models.memsvd.quickstart:run",
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
        image_processor="hfvid.models.subpixel_fan:FaceAlignmentImageProcessor",
        pipelines=(
            PipelineTask(
                task="hfvid-facial-landmarks",
                pipeline_class="hfvid.pipelines.facial_landmarks:FacialLandmarkDetectionPipeline",
                auto_model="AutoModelForPoseEstimation",
            ),
        ),
        training_script="training_scripts/train_subpixel_fan.py",
        quickstart="hfvid.models.subpixel_fan.quickstart:run",
        status="implemented",
    ),
)


def load_object(path: str):
    """``"package.module:Name"`` -> the object."""
    module, _, name = path.partition(":")
    return getattr(import_module(module), name)


_registered = False


def register_all() -> None:
    """Register every method with the Auto classes and the pipeline registry (idempotent)."""
    global _registered
    if _registered:
        return
    import transformers
    from transformers import AutoConfig, AutoImageProcessor
    from transformers.pipelines import PIPELINE_REGISTRY

    for method in METHODS:
        if method.peft_registration:
            load_object(method.peft_registration)()
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
        for task in method.pipelines:
            PIPELINE_REGISTRY.register_pipeline(
                task.task,
                pipeline_class=load_object(task.pipeline_class),
                pt_model=getattr(transformers, task.auto_model),
                type=task.type,
            )
    _registered = True


__all__ = ["METHODS", "Method", "PipelineTask", "load_object", "register_all"]
