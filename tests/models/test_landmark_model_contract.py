"""One landmark-model contract for every model registered for AutoModelForPoseEstimation.

The `hfvid-facial-landmarks` pipeline calls every such model as `model(pixel_values=crops, flip_test=...)`, with
`flip_test` defaulting to `config.flip_permutation is not None`. The contract:

- `forward(pixel_values, flip_test=False, ...)` returns `landmarks` (batch, N, 2) and `scores` (batch, N) in crop
  pixels (finite);
- every config has `flip_permutation` (the mirror table, or None);
- with a mirror table `flip_test=True` is real test-time augmentation: the heatmaps are averaged with the mirrored
  crop's, so the prediction on a mirrored crop is exactly the mirrored prediction;
- without one, `flip_test=True` is a ValueError naming `flip_permutation` (never silently ignored);
- the model's folder (weights + image processor) serves `pipeline("hfvid-facial-landmarks")`.
"""

import inspect

import numpy as np
import pytest
import torch
from transformers import pipeline

from hfvid.registration import METHODS, load_object

SIZE = 64


def _tiny(name: str, mirror: bool):
    """(config, image processor) of a tiny model of `name`, with a 5-point mirror table or none."""
    flip = [1, 0, 2, 4, 3] if mirror else None
    if name == "subpixel_fan":
        from hfvid import SubpixelFANImageProcessor, SubpixelFANConfig

        config = SubpixelFANConfig(num_stacks=1, hidden_size=16, hourglass_depth=2, image_size=SIZE,
                                   heatmap_size=SIZE // 4, num_landmarks=5, landmark_scheme="custom",
                                   flip_permutation=flip, norm_type="group")
        return config, SubpixelFANImageProcessor(crop_size=SIZE)
    if name == "keypoints_to_landmarks":
        from hfvid.models.keypoints_to_landmarks import KeypointsToLandmarksConfig, KeypointsToLandmarksImageProcessor

        config = KeypointsToLandmarksConfig(num_landmarks=5, num_clusters=10, hidden_size=16, stem_channels=8,
                                            hourglass_depth=2, image_size=SIZE, heatmap_size=SIZE // 4,
                                            descriptor_dim=8, flip_permutation=flip)
        return config, KeypointsToLandmarksImageProcessor(crop_size=SIZE)
    if name == "face_pretraining":
        from hfvid import FaceRepresentationConfig, FaceRepresentationImageProcessor

        config = FaceRepresentationConfig(embedding_size=4, hidden_sizes=[4, 8, 8, 16], depths=[1, 1, 1, 1],
                                          layer_type="basic", image_size=SIZE, heatmap_size=SIZE // 4,
                                          head_channels=8, crop_sizes=[SIZE, 16], num_crops=[2, 2], num_landmarks=5,
                                          flip_permutation=flip)
        return config, FaceRepresentationImageProcessor(image_size=SIZE)
    raise AssertionError(f"no tiny config for {name}: add one so its landmark model is checked against the contract")


REGISTERED = [(method.name, method.models["AutoModelForPoseEstimation"]) for method in METHODS
              if "AutoModelForPoseEstimation" in method.models]


def test_every_pose_estimation_model_is_covered():
    assert {name for name, _ in REGISTERED} >= {"subpixel_fan", "keypoints_to_landmarks", "face_pretraining"}


@pytest.mark.parametrize("mirror", [True, False], ids=["mirror-table", "no-mirror-table"])
@pytest.mark.parametrize("name,class_path", REGISTERED, ids=[name for name, _ in REGISTERED])
def test_landmark_model_contract(name, class_path, mirror, tmp_path):
    config, processor = _tiny(name, mirror)
    assert (config.flip_permutation is not None) == mirror
    model_class = load_object(class_path)
    parameters = inspect.signature(model_class.forward).parameters
    assert "pixel_values" in parameters and "flip_test" in parameters
    torch.manual_seed(0)
    model = model_class(config).eval()
    pixels = torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        plain = model(pixel_values=pixels, flip_test=False)
        assert plain.landmarks.shape == (2, 5, 2) and plain.scores.shape == (2, 5)
        assert torch.isfinite(plain.landmarks).all() and torch.isfinite(plain.scores).all()
        assert torch.equal(model(pixel_values=pixels).landmarks, plain.landmarks)  # flip_test defaults to False
        if mirror:
            flipped = model(pixel_values=pixels, flip_test=True)
            assert not torch.allclose(flipped.landmarks, plain.landmarks)  # the mirrored view was used
            of_mirror = model(pixel_values=pixels.flip(-1), flip_test=True).landmarks
            expected = torch.stack([SIZE - 1 - flipped.landmarks[..., 0], flipped.landmarks[..., 1]], -1)
            torch.testing.assert_close(of_mirror, expected[:, config.flip_permutation], atol=1e-3, rtol=0)
        else:
            with pytest.raises(ValueError, match="flip_permutation"):
                model(pixel_values=pixels, flip_test=True)

    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    pipe = pipeline("hfvid-facial-landmarks", model=str(tmp_path))
    assert type(pipe.model) is model_class
    image = np.random.default_rng(2).integers(0, 255, (80, 96, 3), dtype=np.uint8)
    faces = pipe(image, boxes=[[10, 8, 70, 72]])  # flip_test defaults to "the model has a mirror table"
    assert len(faces) == 1 and np.asarray(faces[0]["landmarks"]).shape == (5, 2)
    assert np.isfinite(faces[0]["landmarks"]).all() and len(faces[0]["scores"]) == 5
    crop = processor(image, boxes=[[10, 8, 70, 72]], return_tensors="pt")
    with torch.no_grad():
        direct = model(pixel_values=crop["pixel_values"], flip_test=mirror)
    in_image = processor.post_process_facial_landmarks(direct, crop["crop_matrices"])[0][0]["landmarks"]
    np.testing.assert_allclose(faces[0]["landmarks"], in_image.numpy(), atol=1e-3)
    if mirror:
        assert len(pipe(image, boxes=[[10, 8, 70, 72]], flip_test=False)) == 1
    else:
        with pytest.raises(ValueError, match="flip_permutation"):
            pipe(image, boxes=[[10, 8, 70, 72]], flip_test=True)
