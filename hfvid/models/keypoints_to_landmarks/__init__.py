"""Keypoints-to-Landmarks: unsupervised object landmark discovery by self-training correspondence
(Mallis, Sanchez, Bell, Tzimiropoulos; NeurIPS 2020 and TPAMI 2023)."""

from .configuration_keypoints_to_landmarks import KeypointsToLandmarksConfig
from .image_processing_keypoints_to_landmarks import KeypointsToLandmarksImageProcessor
from .keypoint_initialization import (
    CornerKeypointInitializer,
    GivenKeypointInitializer,
    KeypointInitializer,
    SuperPointKeypointInitializer,
    initial_keypoints,
    remove_outliers,
)
from .modeling_keypoints_to_landmarks import (
    KeypointsToLandmarksForLandmarkDetection,
    KeypointsToLandmarksLandmarkDetectionOutput,
    KeypointsToLandmarksModel,
    KeypointsToLandmarksModelOutput,
    KeypointsToLandmarksPreTrainedModel,
)

__all__ = [
    "CornerKeypointInitializer",
    "GivenKeypointInitializer",
    "KeypointInitializer",
    "KeypointsToLandmarksConfig",
    "KeypointsToLandmarksForLandmarkDetection",
    "KeypointsToLandmarksImageProcessor",
    "KeypointsToLandmarksLandmarkDetectionOutput",
    "KeypointsToLandmarksModel",
    "KeypointsToLandmarksModelOutput",
    "KeypointsToLandmarksPreTrainedModel",
    "SuperPointKeypointInitializer",
    "initial_keypoints",
    "remove_outliers",
]
