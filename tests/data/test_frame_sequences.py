"""Lazily decoded video frames (a clip decodes only its window) and face-cropped clips (given boxes or a detector)."""

import numpy as np
import pytest
import torch

import hfvid.data.video as video_module
from hfvid.data.frame_sequences import (FaceCroppedFrames, VideoFileFrames, face_cropped_sequences,
                                        square_face_box)
from hfvid.data.video import write_video

NUM_FRAMES = 40


def frame(i, size=32):
    return np.full((size, size, 3), 5 * i, np.uint8)  # the frame's index, readable back after lossy coding


@pytest.fixture
def decoded_count(monkeypatch):
    """Counts the frames the decoder produced (before any start/end filtering)."""
    count = {"frames": 0}
    original = video_module._decoded

    def counting(*args):
        for item in original(*args):
            count["frames"] += 1
            yield item

    monkeypatch.setattr(video_module, "_decoded", counting)
    return count


def test_video_slices_decode_only_their_window(tmp_path, decoded_count):
    path = write_video(tmp_path / "v.avi", [frame(i) for i in range(NUM_FRAMES)], fps=10, codec="mjpeg",
                       pix_fmt="yuvj420p")  # all-intra: the seek lands on the window
    frames = VideoFileFrames(path)
    assert len(frames) == NUM_FRAMES and decoded_count["frames"] == 0
    clip = frames[20:28:2]
    assert [round(float(image.mean()) / 5) for image in clip] == [20, 22, 24, 26]
    assert decoded_count["frames"] <= 8 + 2  # the window, plus at most the frame before it and the one after
    assert round(float(frames[-1].mean()) / 5) == NUM_FRAMES - 1
    with pytest.raises(IndexError):
        frames[NUM_FRAMES]


def test_long_gop_video_slices_are_right(tmp_path):
    path = write_video(tmp_path / "v.mp4", [frame(i) for i in range(NUM_FRAMES)], fps=25)
    assert [round(float(image.mean()) / 5) for image in VideoFileFrames(path)[30:33]] == [30, 31, 32]


def test_clip_dataset_streams_video_files(tmp_path, decoded_count):
    from hfvid.data.affect_sequences import ClipDataset, unlabelled_sequences
    from hfvid.models.affective_process import AffectiveProcessVideoProcessor

    write_video(tmp_path / "a.avi", [frame(i) for i in range(NUM_FRAMES)], fps=10, codec="mjpeg", pix_fmt="yuvj420p")
    sequences = unlabelled_sequences(tmp_path)
    assert isinstance(sequences[0]["frames"], VideoFileFrames)
    processor = AffectiveProcessVideoProcessor(size={"height": 16, "width": 16})
    dataset = ClipDataset(sequences, processor, clip_length=4, frame_stride=2, clips_per_video=3, augment=False)
    for index in range(len(dataset)):
        before = decoded_count["frames"]
        assert dataset[index]["pixel_values"].shape == (4, 3, 16, 16)
        assert decoded_count["frames"] - before <= dataset.span + 2 < NUM_FRAMES  # one clip, never the video


def face_video(box, size=64, length=12):
    """Dark frames with a bright "face" rectangle at ``box`` (and a darker noise background)."""
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(length):
        image = rng.integers(0, 40, (size, size, 3), dtype=np.uint8)
        x1, y1, x2, y2 = box
        image[y1:y2, x1:x2] = 220
        frames.append(image)
    return frames


def bright_region_detector(image):
    """A real (if simple) detector: the bounding box of the bright pixels, as a callable the pipelines accept."""
    pixels = np.asarray(image).mean(-1) > 128
    if not pixels.any():
        return []
    ys, xs = np.nonzero(pixels)
    return [{"box": [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)], "score": 1.0}]


def test_square_face_box_margin_and_borders():
    assert square_face_box([20, 10, 40, 30], 64, 64, margin=0.5) == (15, 5, 45, 35)
    assert square_face_box([0, 0, 20, 10], 64, 64, margin=0.0) == (0, 0, 20, 20)  # shifted inside the image
    assert square_face_box([0, 0, 64, 30], 64, 40, margin=0.25) == (12, 0, 52, 40)  # cut to the image's side
    with pytest.raises(ValueError, match="x2 > x1"):
        square_face_box([5, 5, 5, 9], 64, 64)


@pytest.mark.parametrize("source", ["boxes", "detector"])
def test_face_crops_from_boxes_or_a_detector(source):
    box = [20, 12, 44, 36]  # 24 x 24 face
    frames = face_video(box)
    kwargs = {"boxes": box} if source == "boxes" else {"detector": bright_region_detector}
    cropped = FaceCroppedFrames(frames, margin=0.0, **kwargs)
    clip = cropped[2:10:2]
    assert len(clip) == 4 and all(image.shape == (24, 24, 3) for image in clip)
    assert all(image.min() == 220 for image in clip)  # exactly the face
    assert cropped[-1].shape == (24, 24, 3) and cropped.num_uncropped == 0


def test_clip_without_a_face_is_kept_whole_and_counted():
    frames = [np.zeros((32, 32, 3), np.uint8)] * 4
    cropped = FaceCroppedFrames(frames, detector=bright_region_detector)
    assert cropped[0:4][0].shape == (32, 32, 3) and cropped.num_uncropped == 1


def test_face_cropped_sequences_checks_the_boxes():
    sequences = [{"video_id": "v1", "frames": face_video([0, 0, 10, 10], length=3)}]
    with pytest.raises(ValueError, match="no entry for video 'v1'"):
        face_cropped_sequences(sequences, boxes={"v2": [0, 0, 5, 5]})
    with pytest.raises(ValueError, match="3 frames"):
        face_cropped_sequences(sequences, boxes={"v1": [[0, 0, 5, 5]] * 2})
    per_frame = face_cropped_sequences(sequences, boxes={"v1": [None, [0, 0, 10, 10], None]}, margin=0.0)
    assert per_frame[0]["frames"][0:3][0].shape == (10, 10, 3)  # the clip takes the box its frames have


def test_backbone_parameter_groups():
    from hfvid.models.contrastive_au import ContrastiveAUConfig, ContrastiveAUForAUIntensity
    from hfvid.modules.backbone_init import backbone_parameter_groups

    config = ContrastiveAUConfig(backbone_config={"embedding_size": 8, "hidden_sizes": [16], "depths": [1],
                                                  "layer_type": "basic"}, temporal_hidden_size=8)
    model = ContrastiveAUForAUIntensity(config)
    backbone = set(model.contrastive_au.frame_encoder.backbone.parameters())
    groups = backbone_parameter_groups(model, 1e-3, 0.1, weight_decay=0.01)
    assert [g["name"] for g in groups] == ["backbone", "heads"]
    assert groups[0]["lr"] == pytest.approx(1e-4) and groups[1]["lr"] == 1e-3
    assert set(groups[0]["params"]) == backbone and not backbone & set(groups[1]["params"])
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    optimizer = torch.optim.AdamW(groups, lr=1e-3)
    assert [g["lr"] for g in optimizer.param_groups] == [pytest.approx(1e-4), 1e-3]
    assert len(backbone_parameter_groups(model, 1e-3)) == 1  # scale 1: the plain optimizer
    model.contrastive_au.frame_encoder.requires_grad_(False)  # frozen: no backbone group
    assert [g["name"] for g in backbone_parameter_groups(model, 1e-3, 0.1)] == ["heads"]
    with pytest.raises(ValueError, match="backbone_lr_scale must be > 0"):
        backbone_parameter_groups(model, 1e-3, 0.0)
