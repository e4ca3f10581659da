"""Make PEFT know the BayesianPrompt adapter (run by ``hfvid.registration.register_all`` at ``import hfvid``).

peft 0.21 has no public hook for methods outside its repository: ``peft.utils.register_peft_method`` refuses any
name that is not a member of its closed ``PeftType`` enum. What PEFT does use to find a method are three plain
dicts in ``peft.mapping`` (config class, tuner class and parameter prefix per ``peft_type``), looked up with the
``peft_type`` string stored in ``adapter_config.json``. Registering means writing our string key into them; this
is the one place that relies on those semi-private names, and it checks them first.

It also gives ``CLIPModel`` the ``get_input_embeddings`` / ``set_input_embeddings`` pair that ``CLIPTextModel``
has (CLIP's text token embedding): ``AutoPeftModel.from_pretrained`` calls ``get_input_embeddings`` on the base
model whenever the adapter folder holds a tokenizer, and transformers 5 raises ``NotImplementedError`` for
``CLIPModel``. The pair is added only where ``CLIPModel`` defines none of its own.
"""

from .config import BAYESIAN_PROMPT_PEFT_TYPE, BayesianPromptConfig
from .model import BayesianPromptModel

TESTED_PEFT_VERSIONS = ">=0.21.2,<0.22"
_MAPPINGS = ("PEFT_TYPE_TO_CONFIG_MAPPING", "PEFT_TYPE_TO_TUNER_MAPPING", "PEFT_TYPE_TO_PREFIX_MAPPING")
# Modules that import those dicts by name; they must hold the same objects for a registration to be seen.
_USERS = {"peft.peft_model": _MAPPINGS, "peft.utils.save_and_load": ("PEFT_TYPE_TO_TUNER_MAPPING",)}


def register_bayesian_prompt() -> None:
    """Register ``HFVID_BAYESIAN_PROMPT`` in PEFT's mappings (idempotent).

    Raises ``RuntimeError`` naming what changed if this peft no longer has the mappings hfvid writes to (tested
    with peft ``>=0.21.2,<0.22``), instead of failing later with a bare ``KeyError`` on load.
    """
    from importlib import import_module

    import peft
    import peft.mapping as mapping

    def changed(what: str) -> RuntimeError:
        return RuntimeError(
            f"hfvid's BayesianPrompt adapter cannot register with peft {peft.__version__}: {what}. hfvid writes its "
            f"peft_type into peft.mapping.{{{', '.join(_MAPPINGS)}}}, tested with peft{TESTED_PEFT_VERSIONS}; "
            f'install a tested version (pip install "peft{TESTED_PEFT_VERSIONS}").'
        )

    tables = {}
    for name in _MAPPINGS:
        table = getattr(mapping, name, None)
        if not isinstance(table, dict):
            raise changed(f"peft.mapping.{name} is missing or not a dict")
        tables[name] = table
    for module_name, names in _USERS.items():
        module = import_module(module_name)
        for name in names:
            if getattr(module, name, None) is not tables[name]:
                raise changed(f"{module_name} no longer looks methods up in peft.mapping.{name}")
    tables["PEFT_TYPE_TO_CONFIG_MAPPING"][BAYESIAN_PROMPT_PEFT_TYPE] = BayesianPromptConfig
    tables["PEFT_TYPE_TO_TUNER_MAPPING"][BAYESIAN_PROMPT_PEFT_TYPE] = BayesianPromptModel
    tables["PEFT_TYPE_TO_PREFIX_MAPPING"][BAYESIAN_PROMPT_PEFT_TYPE] = BayesianPromptModel.prefix
    give_clip_input_embeddings()


def _clip_input_embeddings(self):
    """CLIP's text token embedding (the layer the BPL adapter wraps), as ``CLIPTextModel`` returns it."""
    return self.text_model.embeddings.token_embedding


def _set_clip_input_embeddings(self, value):
    self.text_model.embeddings.token_embedding = value


def give_clip_input_embeddings() -> None:
    """Let ``AutoPeftModel.from_pretrained`` load a BPL adapter folder that holds its tokenizer (idempotent)."""
    from transformers import CLIPModel

    if "get_input_embeddings" not in CLIPModel.__dict__:
        CLIPModel.get_input_embeddings = _clip_input_embeddings
    if "set_input_embeddings" not in CLIPModel.__dict__:
        CLIPModel.set_input_embeddings = _set_clip_input_embeddings


__all__ = ["TESTED_PEFT_VERSIONS", "give_clip_input_embeddings", "register_bayesian_prompt"]
