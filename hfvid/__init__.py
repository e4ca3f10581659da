"""hfvid: research methods for faces and video as first-class Hugging Face models.

``import hfvid`` makes every model, processor, pipeline task and PEFT adapter known to transformers and PEFT,
registering each kind when its machinery is first imported (see :mod:`hfvid.registration`), so ``import hfvid``
itself imports neither torch nor transformers. Public classes are resolved lazily on first attribute access.
"""

from importlib import import_module

from .registration import register_all, register_on_first_use

__version__ = "0.1.0"

_LAZY_ATTRIBUTES = {
    # Contrastive AU (contrastive pre-training + AU intensity from 2% random labelled frames)
    "ContrastiveAUConfig": "hfvid.models.contrastive_au",
    "ContrastiveAUModel": "hfvid.models.contrastive_au",
    "ContrastiveAUForPreTraining": "hfvid.models.contrastive_au",
    "ContrastiveAUForAUIntensity": "hfvid.models.contrastive_au",
    # REST (retrieve & self-train a video captioner; zero-shot action recognition)
    "RESTConfig": "hfvid.models.rest",
    "RESTForVideoCaptioning": "hfvid.models.rest",
    "RESTForZeroShotVideoClassification": "hfvid.models.rest",
    "RESTProcessor": "hfvid.models.rest",
    "RESTVideoProcessor": "hfvid.models.rest",
    "VideoCaptioningPipeline": "hfvid.pipelines.rest",
    "ZeroShotVideoClassificationPipeline": "hfvid.pipelines.rest",
    # Affective Processes (valence/arousal and AU intensity over face videos)
    "AffectiveProcessConfig": "hfvid.models.affective_process",
    "AffectiveProcessModel": "hfvid.models.affective_process",
    "AffectiveProcessForAffectEstimation": "hfvid.models.affective_process",
    "AffectVideoProcessor": "hfvid.models.affective_process",
    "AffectEstimationPipeline": "hfvid.pipelines.affect",
    "AUIntensityPipeline": "hfvid.pipelines.affect",
    # Keypoints-to-Landmarks (unsupervised landmark discovery)
    "KeypointsToLandmarksConfig": "hfvid.models.keypoints_to_landmarks",
    "KeypointsToLandmarksModel": "hfvid.models.keypoints_to_landmarks",
    "KeypointsToLandmarksForLandmarkDetection": "hfvid.models.keypoints_to_landmarks",
    "LandmarkDiscoveryImageProcessor": "hfvid.models.keypoints_to_landmarks",
    "CornerKeypointInitializer": "hfvid.models.keypoints_to_landmarks",
    "SuperPointKeypointInitializer": "hfvid.models.keypoints_to_landmarks",
    "UnsupervisedLandmarkDetectionPipeline": "hfvid.pipelines.unsupervised_landmarks",
    "landmark_regression_nme": "hfvid.metrics.landmark_regression",
    # BMViT (action localisation) and its MViTv2 backbone
    "BMViTConfig": "hfvid.models.bmvit",
    "BMViTModel": "hfvid.models.bmvit",
    "BMViTForActionLocalization": "hfvid.models.bmvit",
    "BMViTVideoProcessor": "hfvid.models.bmvit",
    "VideoActionLocalizationPipeline": "hfvid.pipelines.video_action_localization",
    "MViTv2Config": "hfvid.models.mvitv2",
    "MViTv2Model": "hfvid.models.mvitv2",
    "MViTv2Backbone": "hfvid.models.mvitv2",
    "MViTv2ForVideoClassification": "hfvid.models.mvitv2",
    "MViTv2VideoProcessor": "hfvid.models.mvitv2",
    # GANnotation (diffusers pipeline; diffusers is imported only when GANnotationPipeline is used)
    "GANnotationConfig": "hfvid.models.gannotation",
    "GANnotationGenerator": "hfvid.models.gannotation",
    "GANnotationDiscriminator": "hfvid.models.gannotation",
    "GANnotationPipeline": "hfvid.models.gannotation.pipeline_gannotation",
    "GANnotationPipelineOutput": "hfvid.models.gannotation.pipeline_gannotation",
    # Facial representation pre-training (FRL)
    "FaceRepresentationConfig": "hfvid.models.face_pretraining",
    "FaceRepresentationModel": "hfvid.models.face_pretraining",
    "FaceRepresentationForSwAVPreTraining": "hfvid.models.face_pretraining",
    "FaceRepresentationForLandmarkDetection": "hfvid.models.face_pretraining",
    "FaceRepresentationForAUIntensity": "hfvid.models.face_pretraining",
    "FaceRepresentationForExpressionRecognition": "hfvid.models.face_pretraining",
    "FaceRepresentationFor3DFaceAlignment": "hfvid.models.face_pretraining",
    "FaceRepresentationForFaceRecognition": "hfvid.models.face_pretraining",
    "FaceRepresentationImageProcessor": "hfvid.models.face_pretraining",
    "FaceEmbeddingPipeline": "hfvid.pipelines.face_embedding",
    # Bayesian Prompt Learning (PEFT adapter on CLIP)
    "BayesianPromptConfig": "hfvid.models.bayesian_prompt",
    "BayesianPromptModel": "hfvid.models.bayesian_prompt",
    "BayesianPromptLayer": "hfvid.models.bayesian_prompt",
    "BayesianPromptOutput": "hfvid.models.bayesian_prompt",
    "bayesian_prompt_classify": "hfvid.models.bayesian_prompt",
    "build_class_prompts": "hfvid.models.bayesian_prompt",
    "resolve_ctx_init": "hfvid.models.bayesian_prompt",
    "BayesianZeroShotImageClassificationPipeline": "hfvid.pipelines.zero_shot_image_classification",
    # MeMSVD (long-term memory by incremental SVD)
    "MeMSVDConfig": "hfvid.models.memsvd",
    "MeMSVDMemory": "hfvid.models.memsvd",
    "MeMSVDModel": "hfvid.models.memsvd",
    "MeMSVDForActionDetection": "hfvid.models.memsvd",
    "MeMSVDForVideoClassification": "hfvid.models.memsvd",
    "MeMSVDFeatureBankProcessor": "hfvid.models.memsvd",
    "LongTermActionDetectionPipeline": "hfvid.pipelines.long_term_action_detection",
    # Subpixel heatmap regression
    "SubpixelFANConfig": "hfvid.models.subpixel_fan",
    "SubpixelFANModel": "hfvid.models.subpixel_fan",
    "SubpixelFANForFacialLandmarkDetection": "hfvid.models.subpixel_fan",
    "FaceAlignmentImageProcessor": "hfvid.models.subpixel_fan",
    "FacialLandmarkDetectionPipeline": "hfvid.pipelines.facial_landmarks",
    # shared utilities
    "render_model_card": "hfvid.hub",
    "publish": "hfvid.hub",
}


def __getattr__(name: str):
    if name in _LAZY_ATTRIBUTES:
        value = getattr(import_module(_LAZY_ATTRIBUTES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hfvid' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY_ATTRIBUTES))


register_on_first_use()

__all__ = ["__version__", "register_all", *_LAZY_ATTRIBUTES]
