"""The one frame-folder reader: declared numbering convention, off-by-one detection, one result for AP and CAU."""

import numpy as np
import pytest
from PIL import Image

from hfvid.data.affect_sequences import FrameDataset, labelled_sequences
from hfvid.data.formats.disfa import write_disfa_subject
from hfvid.data.frame_folders import frames_for_labels, list_frame_files, read_frame_folder


def extract(folder, count, first, pattern="{:05d}.jpg"):
    """Frames whose red channel encodes the true 0-based frame index, numbered from ``first``."""
    folder.mkdir(parents=True, exist_ok=True)
    for t in range(count):
        Image.fromarray(np.full((8, 8, 3), (10 * t, 0, 0), np.uint8)).save(folder / pattern.format(t + first))
    return folder


def red(path):
    return int(np.asarray(Image.open(path))[0, 0, 0])


@pytest.mark.parametrize("first", [0, 1])
def test_declared_convention_maps_files_to_true_frames(tmp_path, first):
    folder = extract(tmp_path / "v", 5, first, "frame_{}.png")
    images = read_frame_folder(folder, first_frame_index=first)
    assert sorted(images) == [0, 1, 2, 3, 4]
    assert [red(images[t]) for t in range(5)] == [0, 10, 20, 30, 40]


def test_mismatched_conventions_raise(tmp_path):
    zero_based = extract(tmp_path / "zero", 6, 0)
    with pytest.raises(ValueError, match="pass first_frame_index=0"):
        read_frame_folder(zero_based, first_frame_index=1)
    one_based = extract(tmp_path / "one", 6, 1)
    with pytest.raises(ValueError, match="pass first_frame_index=1"):
        frames_for_labels(one_based, range(6), first_frame_index=0)
    assert [red(p) for p in frames_for_labels(one_based, range(6))] == [0, 10, 20, 30, 40, 50]
    # labels on a subset of the frames: no shift fits better, frames without a file are None
    assert frames_for_labels(one_based, [2, 4, 9])[2] is None
    with pytest.raises(ValueError, match="first_frame_index must be 0 or 1"):
        read_frame_folder(one_based, first_frame_index=2)
    with pytest.raises(FileNotFoundError, match="missing"):
        list_frame_files(tmp_path / "missing")
    (one_based / "1.png").write_bytes((one_based / "00001.jpg").read_bytes())
    with pytest.raises(ValueError, match="both hold frame number 1"):
        list_frame_files(one_based)


def test_one_extraction_reads_the_same_through_affective_processes_and_contrastive_au(tmp_path):
    from hfvid.quickstart import load_training_script

    labels = np.arange(12 * 6).reshape(6, 12) % 6
    write_disfa_subject(tmp_path / "labels", "SN001", labels)
    extract(tmp_path / "frames" / "SN001", 6, 1)
    cau = labelled_sequences("disfa", tmp_path / "labels", tmp_path / "frames")
    ap_script = load_training_script("train_affective_process")
    args = ap_script.parse_args(["--dataset_format", "disfa", "--task", "au", "--annotations",
                                 str(tmp_path / "labels"), "--train_dir", str(tmp_path / "frames"),
                                 "--output_dir", str(tmp_path / "out")])
    ap = ap_script.load_sequences(args, "train")
    assert [s["video_id"] for s in ap] == [s["video_id"] for s in cau] == ["SN001"]
    assert ap[0]["frames"] == cau[0]["frames"]
    assert [red(p) for p in ap[0]["frames"]] == [0, 10, 20, 30, 40, 50]  # label row t <-> true frame t
    np.testing.assert_array_equal(ap[0]["labels"], cau[0]["labels"])
    # the same extraction numbered from 0 needs the flag; without it the reader refuses instead of shifting
    extract(tmp_path / "frames0" / "SN001", 6, 0)
    with pytest.raises(ValueError, match="first_frame_index"):
        labelled_sequences("disfa", tmp_path / "labels", tmp_path / "frames0")
    args.train_dir, args.first_frame_index = str(tmp_path / "frames0"), 0
    assert ap_script.load_sequences(args, "train")[0]["frames"] != cau[0]["frames"]
    assert [red(p) for p in ap_script.load_sequences(args, "train")[0]["frames"]] == [0, 10, 20, 30, 40, 50]


def test_frame_dataset_flip_is_a_function_of_seed_epoch_and_index():
    frames = [np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3) for _ in range(16)]
    sequences = [{"video_id": "v", "frames": frames, "labels": np.zeros((16, 2), np.float32)}]
    dataset = FrameDataset(sequences, seed=3, augment=True)
    flips = [bool((dataset[i][0] != frames[0]).any()) for i in range(16)]
    assert flips == [bool((dataset[i][0] != frames[0]).any()) for i in range(16)] and 0 < sum(flips) < 16
    dataset.set_epoch(1)
    assert flips != [bool((dataset[i][0] != frames[0]).any()) for i in range(16)]
