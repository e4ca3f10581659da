"""What every hfvid config shares: typed fields whose bad values raise ``ValueError`` naming the field."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from huggingface_hub.errors import StrictDataclassError


def hfvid_config(cls):
    """Class decorator: ``@strict`` type validation of the annotated fields, re-raised as ``ValueError``.

    transformers 5 configs are dataclasses; ``@strict`` checks each field's type on assignment but raises its own
    exception type. hfvid's contract is a ``ValueError`` that names the field, so callers catch one thing. Integers
    given for float fields are accepted and converted.
    """
    cls = strict(accept_kwargs=True)(cls)
    strict_setattr = cls.__setattr__
    float_fields = {name for name, field in cls.__dataclass_fields__.items() if field.type in (float, "float")}

    def __setattr__(self, name, value):
        if name in float_fields and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)  # JSON and users write 2 for 2.0
        try:
            strict_setattr(self, name, value)
        except StrictDataclassError as error:
            raise ValueError(f"{cls.__name__}.{name}: {error}") from error

    cls.__setattr__ = __setattr__
    return cls


def check_choice(name: str, value, choices) -> None:
    """Raise ``ValueError`` naming the field when ``value`` is not one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")


def check_positive(name: str, value) -> None:
    """Raise ``ValueError`` naming the field when ``value`` is not > 0."""
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")


def check_flip_permutation(name: str, permutation, num_landmarks: int) -> None:
    """Raise ``ValueError`` naming the field unless ``permutation`` is a landmark mirror table: a permutation of
    ``range(num_landmarks)`` that is its own inverse (mirroring twice gives the original points)."""
    perm = list(permutation)
    if sorted(perm) != list(range(num_landmarks)):
        raise ValueError(f"{name} must be a permutation of range(num_landmarks={num_landmarks}), got {len(perm)} "
                         "entries")
    if [perm[p] for p in perm] != list(range(num_landmarks)):
        raise ValueError(f"{name} must be an involution (applying it twice gives the identity)")


__all__ = ["check_choice", "check_flip_permutation", "check_positive", "hfvid_config"]
