"""SwAV pre-training data and queue: the queue joins Sinkhorn only once full; FRL's HDF5 files are read lazily."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from hfvid import FaceRepresentationConfig, FaceRepresentationForSwAVPreTraining
from hfvid.models.face_pretraining.pretraining import HDF5Images, MultiCropDataset


pytestmark = pytest.mark.usefixtures("one_thread")


def test_queue_feeds_sinkhorn_only_once_full():
    """queue_length 2 x batch: the first two calls fill it (codes as without a queue: zero rows are no samples),
    the third sees it (codes change); the queue holds the latest assignment-crop embeddings, newest first."""
    torch.manual_seed(0)
    config = FaceRepresentationConfig(embedding_size=4, hidden_sizes=[4, 8, 8, 16], depths=[1, 1, 1, 1],
                                      layer_type="basic", image_size=16, crop_sizes=[16, 8], num_crops=[2, 2],
                                      projection_hidden_size=16, projection_dim=8, num_prototypes=6, queue_length=8,
                                      freeze_prototypes_niters=0)
    model = FaceRepresentationForSwAVPreTraining(config).train()
    generator = torch.Generator().manual_seed(1)
    batches = [[torch.rand(4, 3, s, s, generator=generator) for s in (16, 16, 8, 8)] for _ in range(3)]

    def codes(batch, use_queue):
        with torch.no_grad():
            return model(batch, use_queue=use_queue).assignments

    for step, batch in enumerate(batches):
        reference = codes(batch, use_queue=False)  # never touches the queue
        queued = codes(batch, use_queue=True)
        if step < 2:
            torch.testing.assert_close(queued, reference)  # queue not full yet: Sinkhorn sees the batch alone
        else:
            assert not torch.allclose(queued, reference, atol=1e-4)
    assert model.queue[:, -1].abs().sum() > 0
    with torch.no_grad():
        newest = model(batches[2], use_queue=False).embeddings
    torch.testing.assert_close(model.queue[0, :4], newest[0])  # crop 0 of the last batch, at the front


def _write_h5(path, images):
    h5py = pytest.importorskip("h5py", reason="FRL .h5 files need h5py (pip install h5py)")
    with h5py.File(path, "w") as handle:
        data = handle.create_dataset("images", (len(images),), dtype=h5py.vlen_dtype(np.uint8))
        for index, image in enumerate(images):
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format="PNG")
            data[index] = np.frombuffer(buffer.getvalue(), np.uint8)


def test_hdf5_images_decode_one_entry_at_a_time(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (12, 10 + i, 3), dtype=np.uint8) for i in range(5)]
    _write_h5(tmp_path / "faces.h5", images)
    decoded = []
    original_open = Image.open
    monkeypatch.setattr(Image, "open", lambda *a, **k: decoded.append(1) or original_open(*a, **k))

    lazy = HDF5Images(tmp_path / "faces.h5")
    assert len(lazy) == 5 and decoded == []  # the length comes from the dataset's shape, nothing decoded
    np.testing.assert_array_equal(np.asarray(lazy[3]), images[3])
    np.testing.assert_array_equal(np.asarray(lazy[-1]), images[4])
    assert len(decoded) == 2
    import pickle

    clone = pickle.loads(pickle.dumps(lazy))  # what a DataLoader worker receives: no open handle
    np.testing.assert_array_equal(np.asarray(clone[0]), images[0])
    with pytest.raises(IndexError, match="out of range for 5 images"):
        lazy[5]
    dataset = MultiCropDataset(torch.utils.data.ConcatDataset([lazy, [Image.fromarray(images[0])]]),
                               lambda image: [torch.as_tensor(np.array(image)).permute(2, 0, 1)])
    assert len(dataset) == 6 and dataset[5]["pixel_values"][0].shape == (3, 12, 10)


def test_hdf5_images_errors(tmp_path):
    h5py = pytest.importorskip("h5py", reason="FRL .h5 files need h5py (pip install h5py)")
    with pytest.raises(FileNotFoundError, match="missing.h5 does not exist"):
        HDF5Images(tmp_path / "missing.h5")
    with h5py.File(tmp_path / "other.h5", "w") as handle:
        handle.create_dataset("faces", data=np.zeros(3))
    with pytest.raises(ValueError, match="has no 'images' dataset"):
        HDF5Images(tmp_path / "other.h5")
