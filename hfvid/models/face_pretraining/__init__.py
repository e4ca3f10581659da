"""FRL: facial representation pre-training (SwAV on faces) and the few-shot face benchmark heads
(Bulat et al., ECCV 2022, arXiv:2103.16554)."""

from .configuration_face_pretraining import FRL_IMAGE_MEAN, FRL_IMAGE_STD, FaceRepresentationConfig
from .image_processing_face_pretraining import FaceRepresentationImageProcessor
from .modeling_face_pretraining import (
    AUIntensityOutput,
    ExpressionOutput,
    Face3DAlignmentOutput,
    FaceLandmarkOutput,
    FaceRecognitionOutput,
    FaceRepresentationFor3DFaceAlignment,
    FaceRepresentationForAUIntensity,
    FaceRepresentationForExpressionRecognition,
    FaceRepresentationForFaceRecognition,
    FaceRepresentationForLandmarkDetection,
    FaceRepresentationForSwAVPreTraining,
    FaceRepresentationModel,
    FaceRepresentationPreTrainedModel,
    SwAVOutput,
    sinkhorn_knopp,
    swav_loss,
)

__all__ = [
    "AUIntensityOutput",
    "ExpressionOutput",
    "FRL_IMAGE_MEAN",
    "FRL_IMAGE_STD",
    "Face3DAlignmentOutput",
    "FaceLandmarkOutput",
    "FaceRecognitionOutput",
    "FaceRepresentationConfig",
    "FaceRepresentationFor3DFaceAlignment",
    "FaceRepresentationForAUIntensity",
    "FaceRepresentationForExpressionRecognition",
    "FaceRepresentationForFaceRecognition",
    "FaceRepresentationForLandmarkDetection",
    "FaceRepresentationForSwAVPreTraining",
    "FaceRepresentationImageProcessor",
    "FaceRepresentationModel",
    "FaceRepresentationPreTrainedModel",
    "SwAVOutput",
    "sinkhorn_knopp",
    "swav_loss",
]
