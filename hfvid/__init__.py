"""hfvid: research methods for faces and video as first-class Hugging Face models.

``import hfvid`` makes every model, processor, pipeline task and PEFT adapter known to transformers and PEFT,
registering each kind when its machinery is first imported (see :mod:`hfvid.registration`), so ``import hfvid``
itself imports neither torch nor transformers. Public classes are resolved lazily on first attribute access.
"""

from importlib import import_module

from .registration import public_names, register_all, register_on_first_use

__version__ = "0.1.0"

# Name -> module, built from the one table (every class it names plus each method's `exports`).
_LAZY_ATTRIBUTES = public_names()


def __getattr__(name: str):
    if name in _LAZY_ATTRIBUTES:
        value = getattr(import_module(_LAZY_ATTRIBUTES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hfvid' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY_ATTRIBUTES))


register_on_first_use()

__all__ = ["__version__", "register_all", *_LAZY_ATTRIBUTES]
