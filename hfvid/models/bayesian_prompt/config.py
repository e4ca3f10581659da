"""Configuration of Bayesian Prompt Learning (BPL) as a PEFT adapter on ``transformers.CLIPModel``."""

from dataclasses import dataclass, field

from peft.config import PeftConfig

from ...configuration_utils import check_choice

# The adapter's identity inside PEFT (``adapter_config.json``'s ``peft_type``). PEFT's own ``PeftType`` enum is
# closed, so hfvid registers this plain string in PEFT's mapping dicts (see ``registration.py``).
class BayesianPromptPeftTypeName(str):
    """A ``peft_type`` string that also answers ``.value`` like a ``PeftType`` member does.

    transformers' ``load_adapter`` (used by ``CLIPModel.from_pretrained(adapter_dir)`` and ``pipeline()``) reads
    ``peft_config.peft_type.value``; equal to and hashed as the plain string, so PEFT's dict lookups and JSON work.
    """

    @property
    def value(self) -> str:
        return str(self)


BAYESIAN_PROMPT_PEFT_TYPE = BayesianPromptPeftTypeName("HFVID_BAYESIAN_PROMPT")
VARIANTS = ("unconditional", "conditional")
LIKELIHOODS = ("logmeanexp", "elbo")
KL_REDUCTIONS = ("mean", "sum")
DEFAULT_TARGET_MODULES = ["text_model.embeddings.token_embedding"]


@dataclass
class BayesianPromptConfig(PeftConfig):
    r"""
    Configuration of [`BayesianPromptModel`]: Bayesian Prompt Learning for CLIP (Derakhshani et al., ICCV 2023).

    Paper: https://arxiv.org/abs/2210.02390 (official code: saic-fi/Bayesian-Prompt-Learning, where it is "VPT").

    A CoOp-style context of `n_ctx` learned token embeddings sits right after BOS of every class prompt
    (`"<ctx words> <class name>."`); a latent residual `r ~ q(r)` (or `q(r | x)` in the conditional variant) is added
    to every context vector, and predictions average class probabilities over `r` samples. Defaults are the released
    configuration (`vit_b16_c4_ep10_batch1_ctxv1.yaml`); those not in it are marked [ours].

    Args:
        n_ctx (`int`, *optional*, defaults to 4): number of context tokens M.
        ctx_init (`str`, *optional*, defaults to `"a photo of a"`): the words whose positions the context takes in
            the prompts; its token embeddings initialise the context when `ctx_init_token_ids` is set. `None` or
            `""`: placeholder words `"X X X X"` and a random context `N(0, ctx_init_std^2)`.
        ctx_init_token_ids (`list[int]`, *optional*): token ids of `ctx_init` (without BOS/EOS), resolved once
            from a tokenizer with [`resolve_ctx_init`]; when set, `ctx` starts as those rows of CLIP's embedding.
        ctx_init_std (`float`, *optional*, defaults to 0.02): std of the random context init.
        ctx_start (`int`, *optional*, defaults to 1): position of the first context token (1 = right after BOS).
        variant (`str`, *optional*, defaults to `"unconditional"`): `"unconditional"` (CoOp + BPL, released
            config) or `"conditional"` (CoCoOp + BPL: posterior MLPs on the image embedding).
        image_embed_dim (`int`, *optional*): input size of the conditional posterior MLPs (CLIP's `projection_dim`);
            filled in from the base model when the adapter is created.
        meta_hidden_dim (`int`, *optional*): hidden size of those MLPs; `None` -> `image_embed_dim // 2`.
        token_dim (`int`, *optional*): CLIP text width D; filled in when the adapter is created and checked when it
            is loaded onto a base model.
        logvar_init (`str | float`, *optional*, defaults to `"uniform"`): init of the unconditional log-variance:
            `"uniform"` (U[0, 1), released code) or a constant.
        num_samples_train (`int`, *optional*, defaults to 10): Monte-Carlo samples L per training step (the
            released scripts use 5-40 per dataset).
        num_samples_eval (`int`, *optional*, defaults to 10): Monte-Carlo samples at inference.
        eval_seed (`int`, *optional*, defaults to 0): seed of the inference samples when no generator is given, so
            eval is deterministic [ours]; `None` draws from the global RNG.
        kl_weight (`float`, *optional*, defaults to 0.001): beta of the KL term.
        kl_reduction (`str`, *optional*, defaults to `"mean"`): KL averaged (`"mean"`, released code) or summed
            (`"sum"`, textbook ELBO) over the D dimensions.
        likelihood (`str`, *optional*, defaults to `"logmeanexp"`): `"logmeanexp"` (log of the MC-averaged
            probability, released code) or `"elbo"` (mean of per-sample log-likelihoods, the paper's ELBO).
        prior_std (`float`, *optional*, defaults to 1.0): std of the prior `N(0, prior_std^2 I)`.
        text_batch_size (`int`, *optional*, defaults to 2048): text-encoder rows per chunk (bounds memory).

    Example:

    ```python
    >>> import hfvid  # registers the adapter with PEFT
    >>> from peft import get_peft_model
    >>> from hfvid import BayesianPromptConfig
    >>> peft_model = get_peft_model(clip, BayesianPromptConfig(n_ctx=4))  # doctest: +SKIP
    >>> out = peft_model.classify(pixel_values, class_input_ids, class_attention_mask)  # doctest: +SKIP
    ```
    """

    n_ctx: int = field(default=4, metadata={"help": "Number of context tokens M."})
    ctx_init: str | None = field(default="a photo of a", metadata={"help": "Initialisation text of the context."})
    ctx_init_token_ids: list[int] | None = field(default=None, metadata={"help": "Token ids of ctx_init."})
    ctx_init_std: float = field(default=0.02, metadata={"help": "Std of the random context init."})
    ctx_start: int = field(default=1, metadata={"help": "Position of the first context token (after BOS)."})
    variant: str = field(default="unconditional", metadata={"help": "'unconditional' or 'conditional'."})
    image_embed_dim: int | None = field(default=None, metadata={"help": "Input size of the posterior MLPs."})
    meta_hidden_dim: int | None = field(default=None, metadata={"help": "Hidden size of the posterior MLPs."})
    token_dim: int | None = field(default=None, metadata={"help": "CLIP text width, filled in at creation."})
    logvar_init: str | float = field(default="uniform", metadata={"help": "'uniform' (U[0,1)) or a constant."})
    num_samples_train: int = field(default=10, metadata={"help": "Monte-Carlo samples per training step."})
    num_samples_eval: int = field(default=10, metadata={"help": "Monte-Carlo samples at inference."})
    eval_seed: int | None = field(default=0, metadata={"help": "Seed of inference samples (deterministic eval)."})
    kl_weight: float = field(default=1e-3, metadata={"help": "Weight beta of the KL term."})
    kl_reduction: str = field(default="mean", metadata={"help": "'mean' (released) or 'sum' over dimensions."})
    likelihood: str = field(default="logmeanexp", metadata={"help": "'logmeanexp' (released) or 'elbo'."})
    prior_std: float = field(default=1.0, metadata={"help": "Std of the Gaussian prior."})
    text_batch_size: int = field(default=2048, metadata={"help": "Text-encoder rows per chunk."})
    target_modules: list[str] | str | None = field(
        default=None, metadata={"help": "Module(s) to wrap; default: CLIP's text token embedding."}
    )

    def __post_init__(self):
        super().__post_init__()
        self.peft_type = BAYESIAN_PROMPT_PEFT_TYPE
        if self.target_modules is None:
            self.target_modules = list(DEFAULT_TARGET_MODULES)
        for name in ("n_ctx", "num_samples_train", "num_samples_eval", "text_batch_size"):
            _check_int(name, getattr(self, name), minimum=1)
        _check_int("ctx_start", self.ctx_start, minimum=0)
        for name in ("image_embed_dim", "meta_hidden_dim", "token_dim"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), minimum=1)
        if self.eval_seed is not None:
            _check_int("eval_seed", self.eval_seed, minimum=0)
        check_choice("variant", self.variant, VARIANTS)
        check_choice("likelihood", self.likelihood, LIKELIHOODS)
        check_choice("kl_reduction", self.kl_reduction, KL_REDUCTIONS)
        for name in ("ctx_init_std", "prior_std"):
            if not isinstance(getattr(self, name), (int, float)) or not getattr(self, name) > 0:
                raise ValueError(f"{name} must be a number > 0, got {getattr(self, name)!r}")
        if not isinstance(self.kl_weight, (int, float)) or self.kl_weight < 0:
            raise ValueError(f"kl_weight must be a number >= 0, got {self.kl_weight!r}")
        if self.logvar_init != "uniform" and (
            isinstance(self.logvar_init, bool) or not isinstance(self.logvar_init, (int, float))
        ):
            raise ValueError(f"logvar_init must be 'uniform' or a number, got {self.logvar_init!r}")
        if self.ctx_init is not None and not isinstance(self.ctx_init, str):
            raise ValueError(f"ctx_init must be a string or None, got {self.ctx_init!r}")
        if self.ctx_init_token_ids is not None:
            ids = list(self.ctx_init_token_ids)
            if len(ids) != self.n_ctx or not all(isinstance(i, int) and i >= 0 for i in ids):
                raise ValueError(
                    f"ctx_init_token_ids must be n_ctx={self.n_ctx} non-negative token ids, got {self.ctx_init_token_ids!r}"
                )

    @property
    def context_text(self) -> str:
        """The words that reserve the context positions in every prompt."""
        return self.ctx_init if self.ctx_init else " ".join(["X"] * self.n_ctx)


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


__all__ = ["BAYESIAN_PROMPT_PEFT_TYPE", "BayesianPromptConfig", "BayesianPromptPeftTypeName"]
