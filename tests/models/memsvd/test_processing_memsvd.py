"""MeMSVDFeatureBankProcessor: window indexing by (video, second), per-second cap, seeded sampling, save/load."""

import numpy as np
import pytest

from hfvid.models.memsvd import MeMSVDConfig, MeMSVDFeatureBankProcessor, feature_bank_dataset


def bank(d=4):
    """Second s of video "a" holds s % 4 + 1 features whose first value encodes (second, row)."""
    out = {}
    for s in range(20):
        rows = np.zeros((s % 4 + 1, d), np.float32)
        rows[:, 0] = s * 10 + np.arange(len(rows))
        out[("a", s)] = rows
    out[("b", 3)] = np.full((2, d), -1.0, np.float32)
    return out


def seconds_of(features, mask):
    return sorted({int(v) // 10 for v in features[mask][:, 0]})


def test_window_indexing_and_cap():
    processor = MeMSVDFeatureBankProcessor(window_seconds=4, max_features_per_second=2)
    out = processor(bank(), [("a", 10), ("a", 0), ("b", 3), ("c", 5)], feature_dim=4)
    assert out["memory_features"].shape == (4, 10, 4) and processor.num_slots == 10
    features, mask = out["memory_features"].numpy(), out["memory_mask"].numpy()
    assert seconds_of(features[0], mask[0]) == [8, 9, 10, 11, 12]  # +-2 s, same video only
    assert mask[0].sum() == 1 + 2 + 2 + 2 + 1  # seconds hold 1, 2, 3, 4, 1 features, capped at 2
    assert seconds_of(features[1], mask[1]) == [0, 1, 2]  # clipped at the start
    assert (features[2][mask[2]] == -1).all()
    assert not mask[3].any()  # unknown video: empty memory, all masked
    memory_only = MeMSVDFeatureBankProcessor(window_seconds=4, include_keyframe_second=False).window(bank(), "a", 10)
    assert 10 not in set((memory_only[:, 0] // 10).astype(int))  # the keyframe's own second left out


def test_sampling_is_seeded_at_eval_and_random_in_training():
    processor = MeMSVDFeatureBankProcessor(window_seconds=10, max_features_per_second=1, seed=3)
    first = processor(bank(), [("a", 10)])["memory_features"]
    again = MeMSVDFeatureBankProcessor(window_seconds=10, max_features_per_second=1, seed=3)(bank(), [("a", 10)])
    np.testing.assert_array_equal(first, again["memory_features"])
    draws = {tuple(processor(bank(), [("a", 10)], training=True)["memory_features"][0, :, 0].tolist()) for _ in range(5)}
    assert len(draws) > 1


def test_dataset_bank_matches_dict_bank_and_save_load(tmp_path):
    processor = MeMSVDFeatureBankProcessor.from_model_config(MeMSVDConfig(memory_window_seconds=6,
                                                                          max_features_per_second=3))
    dataset = feature_bank_dataset(bank())
    np.testing.assert_array_equal(processor(dataset, [("a", 7)])["memory_features"],
                                  processor(bank(), [("a", 7)])["memory_features"])
    processor.save_pretrained(tmp_path)
    loaded = MeMSVDFeatureBankProcessor.from_pretrained(tmp_path)
    assert (loaded.window_seconds, loaded.max_features_per_second) == (6, 3)
    with pytest.raises(ValueError, match="columns"):
        processor(dataset.remove_columns("second"), [("a", 7)])
    with pytest.raises(ValueError, match="feature_dim"):
        processor({}, [("a", 1)])


def test_non_finite_bank_entries_are_refused_by_name():
    """The processor refuses NaN/inf features at the source (the model's forward reads no values)."""
    broken = bank()
    broken[("a", 9)] = np.array([[np.nan, 0, 0, 0]], np.float32)
    processor = MeMSVDFeatureBankProcessor(window_seconds=4)
    with pytest.raises(ValueError, match=r"bank entry \('a', 9\) contains NaN or inf"):
        processor(broken, [("a", 10)], feature_dim=4)
    processor(broken, [("a", 0)], feature_dim=4)  # windows that do not reach it are fine
