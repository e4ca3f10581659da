"""The subject-independent AU-intensity protocols, defined once for every method (FRL benchmark, Contrastive AU,
Affective Processes): DISFA's 3 folds (:data:`~hfvid.data.formats.disfa.DISFA_FOLDS`, test on one fold, train on
the other two) and BP4D's FERA2015 split (train :data:`~hfvid.data.formats.bp4d.FERA2015_TRAIN`, test on the
development subjects :data:`~hfvid.data.formats.bp4d.FERA2015_DEV`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

AU_PROTOCOL_FORMATS = ("disfa", "bp4d")


@dataclass(frozen=True)
class AUFold:
    """Train and test subjects of one subject-independent split, and its name for results files."""

    train_subjects: tuple[str, ...]
    test_subjects: tuple[str, ...]
    protocol: str

    def check_disjoint(self, train_subjects: Iterable[str], test_subjects: Iterable[str]) -> None:
        """``ValueError`` when data actually loaded for training and testing share a subject (label leakage)."""
        check_subjects_disjoint(train_subjects, test_subjects, self.protocol)

    def side(self, subject: str) -> str | None:
        """``"train"``, ``"test"`` or None (a subject outside the protocol, e.g. a misnamed folder)."""
        return "test" if subject in self.test_subjects else "train" if subject in self.train_subjects else None


def check_subjects_disjoint(train_subjects: Iterable[str], test_subjects: Iterable[str], split: str) -> None:
    """``ValueError`` naming ``split`` when train and test share a subject (also for a split the user gave)."""
    overlap = set(train_subjects) & set(test_subjects)
    if overlap:
        raise ValueError(f"{split}: train and test share subjects {sorted(overlap)} (folds must be "
                         "subject-independent)")


def au_fold(dataset_format: str, fold: int = 0) -> AUFold:
    """The split of ``dataset_format`` (``"disfa"``: ``fold`` 0-2 is the test fold; ``"bp4d"``: FERA2015 train /
    development, ``fold`` must be 0)."""
    if dataset_format == "disfa":
        from .formats.disfa import DISFA_FOLDS

        if fold not in range(len(DISFA_FOLDS)):
            raise ValueError(f"fold must be 0, 1 or 2 for DISFA's 3 subject-independent folds, got {fold!r}")
        train = tuple(s for k, members in enumerate(DISFA_FOLDS) if k != fold for s in members)
        return AUFold(train, tuple(DISFA_FOLDS[fold]), f"DISFA 3-fold, test fold {fold}")
    if dataset_format == "bp4d":
        from .formats.bp4d import FERA2015_DEV, FERA2015_TRAIN

        if fold != 0:
            raise ValueError(f"fold must be 0 for BP4D (one FERA2015 train / development split), got {fold!r}")
        return AUFold(tuple(FERA2015_TRAIN), tuple(FERA2015_DEV), "FERA2015 train / development")
    raise ValueError(f"dataset_format must be one of {AU_PROTOCOL_FORMATS} for an AU protocol, got {dataset_format!r}")


def num_folds(dataset_format: str) -> int:
    """3 for DISFA, 1 for BP4D."""
    au_fold(dataset_format)  # validates the name
    return 3 if dataset_format == "disfa" else 1


__all__ = ["AU_PROTOCOL_FORMATS", "AUFold", "au_fold", "check_subjects_disjoint", "num_folds"]
