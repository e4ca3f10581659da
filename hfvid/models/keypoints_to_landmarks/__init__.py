"""Keypoints-to-Landmarks: unsupervised object landmark discovery by self-training correspondence
(Mallis, Sanchez, Bell, Tzimiropoulos; NeurIPS 2020 and TPAMI 2023)."""

from .configuration_keypoints_to_landmarks import KeypointsToLandmarksConfig
from .image_processing_keypoints_to_landmarks import LandmarkDiscoveryImageProcessor
from .keypoint_initialization import (
    CornerKeypointInitializer,
    GivenKeypointInitializer,
    KeypointInitializer,
    SuperPointKeypointInitializer,
    initial_keypoints,
    remove_outliers,
)
from .modeling_keypoints_to_landmarks import (
    KeypointDiscoveryOutput,
    KeypointsToLandmarksForLandmarkDetection,
    KeypointsToLandmarksModel,
    KeypointsToLandmarksPreTrainedModel,
    LandmarkDiscoveryOutput,
)

__all__ = [
    "CornerKeypointInitializer",
    "GivenKeypointInitializer",
    "KeypointDiscoveryOutput",
    "KeypointInitializer",
    "KeypointsToLandmarksConfig",
    "KeypointsToLandmarksForLandmarkDetection",
    "KeypointsToLandmarksModel",
    "KeypointsToLandmarksPreTrainedModel",
    "LandmarkDiscoveryImageProcessor",
    "LandmarkDiscoveryOutput",
    "SuperPointKeypointInitializer",
    "initial_keypoints",
    "remove_outliers",
]
