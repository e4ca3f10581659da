"""FRL: facial representation pre-training (SwAV on faces) and the few-shot face benchmark heads
(Bulat et al., ECCV 2022, arXiv:2103.16554)."""

from .configuration_face_pretraining import FRL_IMAGE_MEAN, FRL_IMAGE_STD, FaceRepresentationConfig
from .image_processing_face_pretraining import FaceRepresentationImageProcessor
from .modeling_face_pretraining import (
    FaceRepresentation3DFaceAlignmentOutput,
    FaceRepresentationAUIntensityOutput,
    FaceRepresentationExpressionRecognitionOutput,
    FaceRepresentationFaceRecognitionOutput,
    FaceRepresentationFor3DFaceAlignment,
    FaceRepresentationForAUIntensity,
    FaceRepresentationForExpressionRecognition,
    FaceRepresentationForFaceRecognition,
    FaceRepresentationForLandmarkDetection,
    FaceRepresentationForSwAVPreTraining,
    FaceRepresentationLandmarkDetectionOutput,
    FaceRepresentationModel,
    FaceRepresentationPreTrainedModel,
    FaceRepresentationSwAVPreTrainingOutput,
    sinkhorn_knopp,
    swav_loss,
)

__all__ = [
    "FRL_IMAGE_MEAN",
    "FRL_IMAGE_STD",
    "FaceRepresentation3DFaceAlignmentOutput",
    "FaceRepresentationAUIntensityOutput",
    "FaceRepresentationConfig",
    "FaceRepresentationExpressionRecognitionOutput",
    "FaceRepresentationFaceRecognitionOutput",
    "FaceRepresentationFor3DFaceAlignment",
    "FaceRepresentationForAUIntensity",
    "FaceRepresentationForExpressionRecognition",
    "FaceRepresentationForFaceRecognition",
    "FaceRepresentationForLandmarkDetection",
    "FaceRepresentationForSwAVPreTraining",
    "FaceRepresentationImageProcessor",
    "FaceRepresentationLandmarkDetectionOutput",
    "FaceRepresentationModel",
    "FaceRepresentationPreTrainedModel",
    "FaceRepresentationSwAVPreTrainingOutput",
    "sinkhorn_knopp",
    "swav_loss",
]
