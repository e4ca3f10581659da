"""Feature-bank processor of MeMSVD: (video_id, second) keys -> padded long-term memory windows.

The long-term feature bank holds, for every second of every video, the RoI features of the actors a frozen
short-term model saw in that second. It is a ``datasets.Dataset`` with one row per ``(video_id, second)`` and the
columns ``video_id`` (str), ``second`` (int) and ``features`` (``n_i x d`` floats), or an equivalent dict
``{(video_id, second): array (n_i, d)}``. A keyframe at second ``t`` of video ``v`` is matched to its memory by that
key: the window holds the seconds ``t - w .. t + w`` (``w = window_seconds // 2``) of the same video, at most
``max_features_per_second`` features each (sampled at random in training; at evaluation with a generator seeded by
``(seed, video_id, second)``, so results are reproducible), padded to ``(2 w + 1) * max_features_per_second`` slots.
"""

import zlib

import numpy as np
import torch
from transformers.feature_extraction_utils import BatchFeature, FeatureExtractionMixin


class MeMSVDFeatureBank:
    """Read-only ``(video_id, second) -> (n, d) float32`` lookup over a dict or a ``datasets.Dataset``."""

    def __init__(self, bank):
        if isinstance(bank, MeMSVDFeatureBank):
            self._dict, self._dataset, self._rows = bank._dict, bank._dataset, bank._rows
        elif isinstance(bank, dict):
            self._dict, self._dataset, self._rows = bank, None, None
        elif hasattr(bank, "column_names"):
            missing = {"video_id", "second", "features"} - set(bank.column_names)
            if missing:
                raise ValueError(f"the feature-bank dataset lacks the columns {sorted(missing)}")
            self._dict, self._dataset = None, bank
            self._rows = {(v, int(s)): i for i, (v, s) in enumerate(zip(bank["video_id"], bank["second"]))}
        else:
            raise ValueError(f"bank must be a dict {{(video_id, second): (n, d) array}} or a datasets.Dataset, "
                             f"got {type(bank).__name__}")

    def get(self, video_id: str, second: int) -> np.ndarray | None:
        if self._dict is not None:
            value = self._dict.get((video_id, int(second)))
        else:
            row = self._rows.get((video_id, int(second)))
            value = None if row is None else self._dataset[row]["features"]
        if value is None or len(value) == 0:
            return None
        array = np.asarray(value, dtype=np.float32)
        if array.ndim != 2:
            raise ValueError(f"bank entry ({video_id!r}, {second}) must be an (n, d) array, got shape {array.shape}")
        if not np.isfinite(array).all():  # the model's forward no longer looks at values (see validate_inputs)
            raise ValueError(f"bank entry ({video_id!r}, {second}) contains NaN or inf values")
        return array


def feature_bank_dataset(bank: dict):
    """``{(video_id, second): (n, d) array}`` -> the ``datasets.Dataset`` layout (rows sorted by key)."""
    import datasets

    keys = sorted(bank)
    return datasets.Dataset.from_dict(
        {
            "video_id": [k[0] for k in keys],
            "second": [int(k[1]) for k in keys],
            "features": [np.asarray(bank[k], dtype=np.float32).tolist() for k in keys],
        },
        features=datasets.Features(
            {
                "video_id": datasets.Value("string"),
                "second": datasets.Value("int32"),
                "features": datasets.List(datasets.List(datasets.Value("float32"))),
            }
        ),
    )


class MeMSVDFeatureBankProcessor(FeatureExtractionMixin):
    """Builds ``memory_features (B, N, d)`` / ``memory_mask (B, N)`` for keyframes from a feature bank.

    Args:
        window_seconds (`int`, defaults to 60): total window, +- `window_seconds // 2` around the keyframe (LFB).
        max_features_per_second (`int`, defaults to 5): features kept per second (LFB).
        seed (`int`, defaults to 0): seed of the evaluation sampling.
        include_keyframe_second (`bool`, defaults to `True`): keep the keyframe's own second in its window (set
            `False` for "memory-only" ablations, so the current actor is never in its own memory).

    Example:

    ```python
    >>> import numpy as np
    >>> from hfvid import MeMSVDFeatureBankProcessor
    >>> bank = {("vid", s): np.ones((2, 8), np.float32) for s in range(10)}
    >>> processor = MeMSVDFeatureBankProcessor(window_seconds=4, max_features_per_second=3)
    >>> batch = processor(bank, [("vid", 5)])
    >>> batch["memory_features"].shape, int(batch["memory_mask"].sum())
    (torch.Size([1, 15, 8]), 10)
    ```
    """

    model_input_names = ["memory_features", "memory_mask"]

    def __init__(self, window_seconds: int = 60, max_features_per_second: int = 5, seed: int = 0,
                 include_keyframe_second: bool = True, **kwargs):
        super().__init__(**kwargs)
        if window_seconds < 0 or max_features_per_second < 1:
            raise ValueError(f"need window_seconds >= 0 and max_features_per_second >= 1, got {window_seconds} "
                             f"and {max_features_per_second}")
        self.window_seconds = int(window_seconds)
        self.max_features_per_second = int(max_features_per_second)
        self.seed = int(seed)
        self.include_keyframe_second = bool(include_keyframe_second)
        self._training_rng = np.random.default_rng(self.seed)

    @classmethod
    def from_model_config(cls, config, **kwargs) -> "MeMSVDFeatureBankProcessor":
        """The processor matching a `MeMSVDConfig`'s window and per-second cap."""
        return cls(window_seconds=config.memory_window_seconds,
                   max_features_per_second=config.max_features_per_second, **kwargs)

    @property
    def num_slots(self) -> int:
        return (2 * (self.window_seconds // 2) + 1) * self.max_features_per_second

    def window_seconds_of(self, second: int) -> range:
        half = self.window_seconds // 2
        return range(int(second) - half, int(second) + half + 1)

    def sample_second(self, features: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """At most `max_features_per_second` rows of one second (random subset, original order kept)."""
        if len(features) <= self.max_features_per_second:
            return features
        keep = np.sort(rng.choice(len(features), self.max_features_per_second, replace=False))
        return features[keep]

    def window(self, bank, video_id: str, second: int, training: bool = False) -> np.ndarray:
        """The memory of one keyframe as an ``(n, d)`` array (unpadded)."""
        bank = bank if isinstance(bank, MeMSVDFeatureBank) else MeMSVDFeatureBank(bank)
        rng = self._training_rng if training else np.random.default_rng(
            [self.seed, zlib.crc32(str(video_id).encode()), int(second) % 2**32]
        )
        chunks = []
        for s in self.window_seconds_of(second):
            if s == int(second) and not self.include_keyframe_second:
                continue
            features = bank.get(video_id, s)
            if features is not None and len(features):
                chunks.append(self.sample_second(features, rng))
        return np.concatenate(chunks) if chunks else None

    def __call__(self, bank, keys, training: bool = False, feature_dim: int | None = None,
                 return_tensors: str = "pt") -> BatchFeature:
        """Padded windows for ``keys`` = ``[(video_id, second), ...]``.

        Returns a ``BatchFeature`` with ``memory_features`` (B, num_slots, d) float32 and ``memory_mask`` (B,
        num_slots) bool. Keyframes with an empty window get an all-false mask (the model then uses no context).
        ``feature_dim`` is needed only when every window is empty.
        """
        bank = bank if isinstance(bank, MeMSVDFeatureBank) else MeMSVDFeatureBank(bank)
        windows = [self.window(bank, video_id, second, training) for video_id, second in keys]
        dims = {w.shape[1] for w in windows if w is not None}
        if len(dims) > 1:
            raise ValueError(f"the feature bank mixes feature sizes {sorted(dims)}")
        d = dims.pop() if dims else feature_dim
        if d is None:
            raise ValueError("every window is empty: pass feature_dim to build an all-masked memory")
        features = np.zeros((len(keys), self.num_slots, d), np.float32)
        mask = np.zeros((len(keys), self.num_slots), bool)
        for i, window in enumerate(windows):
            if window is not None:
                features[i, : len(window)] = window
                mask[i, : len(window)] = True
        return BatchFeature({"memory_features": torch.from_numpy(features), "memory_mask": torch.from_numpy(mask)},
                            tensor_type=return_tensors)

    def to_dict(self):
        output = super().to_dict()
        output.pop("_training_rng", None)
        return output


__all__ = ["MeMSVDFeatureBank", "MeMSVDFeatureBankProcessor", "feature_bank_dataset"]
