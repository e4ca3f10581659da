"""The native 300VW reader (vid.avi + annot/000001.pts): frame n of the video <-> annotation n + 1, decoded once."""

import numpy as np
import pytest
from PIL import Image

from hfvid.data.formats.ibug_pts import write_pts
from hfvid.data.formats.vw300 import load_300vw, read_300vw_video
from hfvid.data.video import write_video


def make_300vw(root, video_id="001", frames=5, annotated=4):
    """A 300VW video whose frame t is uniformly grey 40 t + 20 and whose landmarks are shifted right by t px."""
    folder = root / video_id
    write_video(folder / "vid.avi", [np.full((48, 64, 3), 40 * t + 20, np.uint8) for t in range(frames)],
                codec="mpeg4")
    base = np.stack([np.linspace(10, 50, 68), np.linspace(8, 40, 68)], 1)
    (folder / "annot").mkdir()
    for t in range(annotated):
        write_pts(folder / "annot" / f"{t + 1:06d}.pts", base + [t, 0])
    return folder, base


def test_frames_and_annotations_line_up_and_decode_once(tmp_path):
    folder, base = make_300vw(tmp_path / "300VW")
    video = read_300vw_video(folder, frames_dir=tmp_path / "frames")
    assert video["video_id"] == "001" and list(video["frames"]) == [0, 1, 2, 3]  # frame 4 has no annotation
    assert [p.name for p in video["images"]] == ["000001.jpg", "000002.jpg", "000003.jpg", "000004.jpg"]
    grey = [float(np.asarray(Image.open(p)).mean()) for p in video["images"]]
    np.testing.assert_allclose(grey, [20, 60, 100, 140], atol=6)
    np.testing.assert_allclose(video["landmarks"][2], base + [2, 0], atol=1e-4)  # write_pts/read_pts round trip
    stamp = video["images"][0].stat().st_mtime_ns
    again = load_300vw(tmp_path / "300VW", frames_dir=tmp_path / "frames")
    assert len(again) == 1 and again[0]["images"][0].stat().st_mtime_ns == stamp


def test_bad_layouts_fail_clearly(tmp_path):
    folder, base = make_300vw(tmp_path / "300VW")
    write_pts(folder / "annot" / "000009.pts", base)
    with pytest.raises(ValueError, match="annotates frame 9 but .* decodes to 5 frames"):
        read_300vw_video(folder, frames_dir=tmp_path / "frames")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no 300VW video folders"):
        load_300vw(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="no vid.avi"):
        read_300vw_video(tmp_path / "empty")


def test_gannotation_reads_the_300vw_layout(tmp_path):
    from hfvid.models.gannotation.data_gannotation import TripletDataset, load_video_folder

    make_300vw(tmp_path / "300VW", "001")
    make_300vw(tmp_path / "300VW", "002")
    videos = load_video_folder(tmp_path / "300VW", frames_dir=tmp_path / "frames")
    assert [v["video_id"] for v in videos] == ["001", "002"] and videos[0]["landmarks"].shape == (4, 68, 2)
    item = TripletDataset(videos, 32, 68, rotation=10.0, flip_prob=0.5)[0]
    assert item["source"].shape == (3, 32, 32) and item["landmarks_target"].shape == (68, 2)
