"""Bayesian Prompt Learning for image-language model generalisation (Derakhshani et al., ICCV 2023), a PEFT adapter
on ``transformers.CLIPModel``: ``get_peft_model(clip, BayesianPromptConfig(...))`` after ``import hfvid``."""

from .config import BAYESIAN_PROMPT_PEFT_TYPE, BayesianPromptConfig
from .layer import BayesianPromptLayer
from .model import (
    BayesianPromptModel,
    BayesianPromptOutput,
    bayesian_prompt_classify,
    find_bayesian_prompt_layer,
    gaussian_kl,
    mc_log_predictive,
    sample_residuals,
)
from .prompts import build_class_prompts, check_class_names, resolve_ctx_init
from .registration import register_bayesian_prompt

__all__ = [
    "BAYESIAN_PROMPT_PEFT_TYPE",
    "BayesianPromptConfig",
    "BayesianPromptLayer",
    "BayesianPromptModel",
    "BayesianPromptOutput",
    "bayesian_prompt_classify",
    "build_class_prompts",
    "check_class_names",
    "find_bayesian_prompt_layer",
    "gaussian_kl",
    "mc_log_predictive",
    "register_bayesian_prompt",
    "resolve_ctx_init",
    "sample_residuals",
]
