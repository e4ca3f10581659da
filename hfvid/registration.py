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
    config: str
    models: dict[str, str] = field(default_factory=dict)  # Auto class name -> model class
    image_processor: str | None = None
    pipelines: tuple[PipelineTask, ...] = ()
    training_script: str | None = None
    quickstart: str | None = None  # recipe "module:function" run by `hfvid quickstart`
    status: str = "planned"


METHODS: tuple[Method, ...] = (
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
        config_class = load_object(method.config)
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
        for task in method.pipelines:
            PIPELINE_REGISTRY.register_pipeline(
                task.task,
                pipeline_class=load_object(task.pipeline_class),
                pt_model=getattr(transformers, task.auto_model),
                type=task.type,
            )
    _registered = True


__all__ = ["METHODS", "Method", "PipelineTask", "load_object", "register_all"]
