"""train_memsvd.py --train_actor_encoder on AVA-format data: keyframe clips decoded from --video_dir mp4 files."""

import numpy as np
import pytest
import torch
from test_train_memsvd import write_ava_split  # the AVA CSV + feature-bank helper, shared

from hfvid.quickstart import load_training_script

FPS, SECONDS, STEP = 4, 8, 8  # frame i of every video is uniform grey STEP * i: its pixels say which frame it is
WIDTH, HEIGHT = 40, 24  # not the encoder's 32x32: boxes are scaled to the frames, then to the encoder's input


def write_videos(folder):
    from hfvid.data.video import write_video

    frames = [np.full((HEIGHT, WIDTH, 3), STEP * i, np.uint8) for i in range(FPS * SECONDS)]
    for video in ("vidA", "vidB"):
        write_video(folder / f"{video}.mp4", frames, fps=FPS)
    return folder


def window(video_second, clip_duration=1.0):
    """Indices of the frames whose timestamps lie in [t - d/2, t + d/2) (iter_clips' window)."""
    half = clip_duration / 2
    return [i for i in range(FPS * SECONDS) if video_second - half <= i / FPS < video_second + half]


def encoder_dim():
    """Feature size of the tiny MViTv2 actor encoder (the bank's features must match it)."""
    from hfvid.models.mvitv2 import MViTv2Config
    from hfvid.quickstart.mvitv2 import TINY_MVITV2
    from hfvid.training import parse_config_overrides

    return MViTv2Config(**parse_config_overrides(TINY_MVITV2)).hidden_size


@pytest.fixture
def decoded(monkeypatch):
    """Spy on the clips the actor encoder is given: ``[((video_id, second), frame indices, pixel boxes)]``."""
    from hfvid.models.memsvd import VideoBackboneActorEncoder

    script = load_training_script("train_memsvd")
    calls, keyframe = [], []
    loader_call, prepare = script.KeyframeClipLoader.__call__, VideoBackboneActorEncoder.prepare

    def spy_call(self):
        keyframe.append((self.video_id, self.second))
        return loader_call(self)

    def spy_prepare(self, frames, boxes):
        calls.append((keyframe[-1], [int(round(float(np.mean(f)) / STEP)) for f in frames], np.asarray(boxes)))
        return prepare(self, frames, boxes)

    monkeypatch.setattr(script.KeyframeClipLoader, "__call__", spy_call)
    monkeypatch.setattr(VideoBackboneActorEncoder, "prepare", spy_prepare)
    return script, calls


def test_train_actor_encoder_on_ava_keyframe_clips(tmp_path, decoded, monkeypatch):
    """Training decodes each keyframe's window (second - --time_offset) from its video and moves the encoder; the
    saved model loads; --time_offset/--fps change the decoded frames; a keyframe past the video's end fails clearly."""
    from hfvid.models.memsvd import MeMSVDForActionDetection, VideoBackboneActorEncoder
    from hfvid.quickstart.mvitv2 import TINY_MVITV2

    script, calls = decoded
    dim = encoder_dim()
    train_bank, train_csv = write_ava_split(tmp_path / "train", 0, dim)
    val_bank, val_csv = write_ava_split(tmp_path / "val", 1, dim)
    videos = write_videos(tmp_path / "videos")
    argv = ["--train_dir", str(train_bank), "--annotations", str(train_csv), "--validation_dir", str(val_bank),
            "--validation_annotations", str(val_csv), "--output_dir", str(tmp_path / "run"), "--cpu",
            "--max_train_steps", "2", "--per_device_train_batch_size", "2", "--max_eval_samples", "2",
            "--learning_rate", "3e-3", "--actor_encoder_learning_rate", "3e-3", "--lr_scheduler_type", "constant",
            "--config_overrides", "num_labels=12,num_components=1,max_rank=4,latent_dim=4,memory_window_seconds=4",
            "--actor_encoder_config_overrides", TINY_MVITV2, "--train_actor_encoder", "--video_dir", str(videos),
            "--time_offset", "900"]
    args = script.parse_args(argv)
    initial = {}
    build_model = script.build_model

    def spy_build(args):  # the run's own initial weights
        model, processor = build_model(args)
        initial.update({k: v.clone() for k, v in model.memsvd.actor_encoder.state_dict().items()})
        return model, processor

    monkeypatch.setattr(script, "build_model", spy_build)
    out = script.main(args)
    assert out["history"]["global_step"] == 2 and 0.0 <= out["results"]["frame_mAP"] <= 1.0

    # 2 steps x 2 keyframes (+ 2 more: accelerate's loader reads one batch ahead), then the 2 evaluation keyframes
    # (the CSV's first, in order); each clip is the 1 s window around (second - 900) of its own video
    assert len(calls) in (6, 8) and [keyframe for keyframe, _, _ in calls[-2:]] == [("vidA", 902), ("vidA", 903)]
    for (video, second), frames, boxes in calls:
        assert video in ("vidA", "vidB") and 902 <= second <= 905
        assert frames == window(second - 900), (video, second, frames)
        people = 1 + second % 2  # write_ava_split's boxes, scaled to the frames
        expected = [[(0.1 + 0.4 * p) * WIDTH, 0.1 * HEIGHT, (0.4 + 0.4 * p) * WIDTH, 0.9 * HEIGHT]
                    for p in range(people)]
        np.testing.assert_allclose(boxes, expected, atol=0.05)

    trained = MeMSVDForActionDetection.from_pretrained(tmp_path / "run")
    assert trained.config.actor_encoder_config is not None and trained.config.feature_dim == dim
    after = trained.memsvd.actor_encoder.state_dict()
    assert initial.keys() == after.keys()
    assert any(not torch.equal(initial[k], after[k]) for k in initial)  # the encoder was trained

    encoder = VideoBackboneActorEncoder.from_model(trained)
    box = np.array([[0.1, 0.1, 0.4, 0.9]], np.float32)

    def load(second, *extra):
        calls.clear()
        pixel_values, rois = script.KeyframeClipLoader(script.parse_args(argv + list(extra)), encoder, "vidA",
                                                       second, box)()
        assert pixel_values.shape[:2] == (1, 4) and rois.shape == (1, 5)
        return calls[0][1]

    assert load(903) == window(3)
    assert load(903, "--time_offset", "899") == window(4)  # one second earlier offset: one second later in the file
    assert load(903, "--time_offset", "900.5") == window(2.5)
    assert load(903, "--clip_duration", "2") == window(3, 2.0)
    assert load(903, "--fps", "2") == [10, 12]  # every other frame of the window 10..13
    with pytest.raises(ValueError, match=r"vidA\.mp4 has no frames around second 915"):
        load(915)  # video second 15 of an 8 s video
    with pytest.raises(ValueError, match="time_offset"):
        load(903, "--time_offset", "904")
    with pytest.raises(FileNotFoundError, match=r"vidC\.mp4 not found \(keyframe vidC,903\)"):
        script.KeyframeClipLoader(args, encoder, "vidC", 903, box)()


def test_missing_videos_fail_before_training(tmp_path, decoded):
    """Every keyframe's <video_id>.<--video_ext> is checked when the data is read, not when a batch needs it."""
    from hfvid.quickstart.mvitv2 import TINY_MVITV2

    script, calls = decoded
    bank, csv = write_ava_split(tmp_path / "train", 0, encoder_dim())
    videos = write_videos(tmp_path / "videos")
    argv = ["--train_dir", str(bank), "--annotations", str(csv), "--output_dir", str(tmp_path / "run"), "--cpu",
            "--max_train_steps", "1", "--actor_encoder_config_overrides", TINY_MVITV2, "--train_actor_encoder",
            "--video_dir", str(videos), "--time_offset", "900", "--video_ext", "mkv"]
    with pytest.raises(FileNotFoundError, match=r"2 videos of .*ava\.csv not found \(e\.g\. \['vidA', 'vidB'\]; "
                                                r"expected <video_id>\.mkv files\)"):
        script.main(script.parse_args(argv))
    assert not calls and not (tmp_path / "run" / "model.safetensors").exists()
