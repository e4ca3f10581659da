"""The BPL tuner (``BaseTuner``) and the Monte-Carlo classification it adds to a CLIP model.

``get_peft_model(clip, BayesianPromptConfig(...))`` wraps CLIP's text token embedding in a
:class:`BayesianPromptLayer`. ``peft_model.classify(pixel_values, class_input_ids, ...)`` (or
:func:`bayesian_prompt_classify` on any module holding one such layer) then encodes the images, samples L prompt
residuals from the posterior, runs CLIP's own text transformer (embeddings -> causal encoder -> final norm -> EOT
pooling) on the L x C (x B) shifted prompts, and averages class probabilities over the samples.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from peft.tuners.tuners_utils import BaseTuner
from transformers.utils import ModelOutput

from .config import DEFAULT_TARGET_MODULES, BayesianPromptConfig
from .layer import BayesianPromptLayer


@dataclass
class BayesianPromptOutput(ModelOutput):
    r"""
    Output of [`bayesian_prompt_classify`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*): `nll + kl_weight * kl`, when `labels` are given.
        logits (`torch.FloatTensor` of shape `(B, C)`): `log p(y|x)` of the MC-averaged class probabilities
            (rows sum to 1 after `exp`); the prediction is the argmax.
        logits_per_sample (`torch.FloatTensor` of shape `(L, B, C)`): scaled cosine logits of each sample.
        probs_std (`torch.FloatTensor` of shape `(B, C)`): std of the class probabilities over the L samples.
        nll (`torch.FloatTensor` of shape `()`, *optional*): the likelihood term of the loss.
        kl (`torch.FloatTensor` of shape `()`): KL of the posterior to the prior (batch mean, conditional variant).
        posterior_mean (`torch.FloatTensor` of shape `(D,)` or `(B, D)`): mean of `q(r)` / `q(r|x)`.
        posterior_logvar (`torch.FloatTensor` of shape `(D,)` or `(B, D)`): its log-variance.
        image_embeds (`torch.FloatTensor` of shape `(B, E)`): L2-normalised image embeddings.
        text_embeds (`torch.FloatTensor` of shape `(L, C, E)` or `(L, B, C, E)`): L2-normalised prompt embeddings.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    logits_per_sample: torch.FloatTensor | None = None
    probs_std: torch.FloatTensor | None = None
    nll: torch.FloatTensor | None = None
    kl: torch.FloatTensor | None = None
    posterior_mean: torch.FloatTensor | None = None
    posterior_logvar: torch.FloatTensor | None = None
    image_embeds: torch.FloatTensor | None = None
    text_embeds: torch.FloatTensor | None = None


# ------------------------------------------------------------------------------------------------- the maths
def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor, prior_std: float = 1.0, reduction: str = "mean"):
    """``KL(N(mu, exp(logvar)) || N(0, prior_std^2))`` per row, averaged (released code) or summed over the last dim."""
    prior_var = prior_std**2
    per_dim = 0.5 * (logvar.exp() / prior_var + mu.pow(2) / prior_var - 1.0 - logvar + math.log(prior_var))
    return per_dim.mean(-1) if reduction == "mean" else per_dim.sum(-1)


def sample_residuals(mu, logvar, num_samples: int, generator=None, shared_noise: bool = False) -> torch.Tensor:
    """Reparameterised ``r_l = mu + exp(logvar / 2) * eps_l``: (L, D) from (D,), (L, B, D) from (B, D).

    ``shared_noise`` draws one ``eps_l`` (L, D) for all B rows (common random numbers): each image then gets the
    same result whatever batch it is in.
    """
    shape = (num_samples, mu.shape[-1]) if shared_noise or mu.dim() == 1 else (num_samples, *mu.shape)
    eps = torch.randn(shape, generator=generator, device=mu.device, dtype=mu.dtype)
    if mu.dim() == 2 and eps.dim() == 2:
        eps = eps[:, None, :]
    return mu + (0.5 * logvar).exp() * eps


def mc_log_predictive(logits_per_sample: torch.Tensor) -> torch.Tensor:
    """``log((1/L) sum_l softmax(logits_l))`` over dim 0: averages probabilities, never logits (log-sum-exp)."""
    log_probs = logits_per_sample.float().log_softmax(-1)
    return torch.logsumexp(log_probs, dim=0) - math.log(log_probs.shape[0])


# ------------------------------------------------------------------------------------------------- plumbing
def find_bayesian_prompt_layer(model: torch.nn.Module) -> BayesianPromptLayer:
    """The single BPL layer inside ``model`` (a PeftModel, a tuner, or a CLIPModel with the adapter injected)."""
    layers = [m for m in model.modules() if isinstance(m, BayesianPromptLayer)]
    if len(layers) != 1:
        raise ValueError(f"expected a model with one BayesianPrompt adapter layer, found {len(layers)}")
    return layers[0]


def unwrap_clip(model: torch.nn.Module) -> torch.nn.Module:
    """The CLIPModel under a PeftModel / BaseTuner wrapper (checks it has both towers and projections)."""
    while hasattr(model, "get_base_model") or isinstance(model, BaseTuner):
        model = model.get_base_model() if hasattr(model, "get_base_model") else model.model
    needed = ("vision_model", "text_model", "visual_projection", "text_projection", "logit_scale")
    if not all(hasattr(model, name) for name in needed):
        raise ValueError(f"BayesianPrompt adapts a transformers CLIPModel, got a {type(model).__name__}")
    return model


def bpl_config(layer: BayesianPromptLayer) -> BayesianPromptConfig:
    """The config of the layer's active adapter."""
    return layer.bpl_config[layer.bpl_adapter]


def _check_inputs(clip, pixel_values, class_input_ids, class_attention_mask, labels) -> None:
    size = clip.config.vision_config.image_size
    if not isinstance(pixel_values, torch.Tensor) or pixel_values.dim() != 4 or pixel_values.shape[1:] != (3, size, size):
        shape = tuple(pixel_values.shape) if isinstance(pixel_values, torch.Tensor) else type(pixel_values).__name__
        raise ValueError(f"pixel_values must be (batch, 3, {size}, {size}), got {shape}")
    if not isinstance(class_input_ids, torch.Tensor) or class_input_ids.dim() != 2 or class_input_ids.shape[0] == 0:
        raise ValueError("class_input_ids must be a (num_classes >= 1, length) tensor of prompt token ids")
    if class_attention_mask is not None and class_attention_mask.shape != class_input_ids.shape:
        raise ValueError("class_attention_mask must have the shape of class_input_ids")
    if labels is not None and (
        labels.shape != (pixel_values.shape[0],) or labels.min() < 0 or labels.max() >= class_input_ids.shape[0]
    ):
        raise ValueError(f"labels must be ({pixel_values.shape[0]},) class indices in [0, {class_input_ids.shape[0]})")


def encode_images(clip, pixel_values: torch.Tensor) -> torch.Tensor:
    """L2-normalised projected image embeddings (B, E)."""
    pooled = clip.vision_model(pixel_values=pixel_values).pooler_output
    return F.normalize(clip.visual_projection(pooled).float(), dim=-1)


def encode_prompts(clip, layer, input_ids, attention_mask, residual_rows, chunk_size: int) -> torch.Tensor:
    """L2-normalised projected text embeddings (N, E) of prompt rows, row i shifted by ``residual_rows[i]``.

    Goes through CLIP's own ``text_model`` (token embedding -> our layer -> positions -> causal encoder -> final
    norm -> pooling at EOT found from the ids), in chunks of ``chunk_size`` rows.
    """
    features = []
    for start in range(0, input_ids.shape[0], chunk_size):
        rows = slice(start, start + chunk_size)
        mask = None if attention_mask is None else attention_mask[rows]
        with layer.bpl_residual(residual_rows[rows]):
            pooled = clip.text_model(input_ids=input_ids[rows], attention_mask=mask).pooler_output
        features.append(clip.text_projection(pooled))
    return F.normalize(torch.cat(features).float(), dim=-1)


def bayesian_prompt_classify(
    model: torch.nn.Module,
    pixel_values: torch.Tensor,
    class_input_ids: torch.Tensor,
    class_attention_mask: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
    num_samples: int | None = None,
    deterministic: bool = False,
    generator: torch.Generator | None = None,
) -> BayesianPromptOutput:
    """Classify ``pixel_values`` (B, 3, H, W) among C class prompts with the MC-averaged BPL predictive.

    ``class_input_ids`` (C, T) are prompts built with :func:`build_class_prompts` (context words at positions
    ``ctx_start .. ctx_start + n_ctx``). ``num_samples`` defaults to the config's train/eval count by
    ``model.training``; ``deterministic`` uses ``r = posterior mean`` once (CoOp-like, cheap). Without a
    ``generator``, eval draws from one seeded with ``eval_seed`` and shares the noise across the batch, so eval
    outputs are reproducible and batch-invariant; training draws fresh noise per image.
    """
    clip = unwrap_clip(model)
    layer = find_bayesian_prompt_layer(model)
    config = bpl_config(layer)
    _check_inputs(clip, pixel_values, class_input_ids, class_attention_mask, labels)
    training = clip.training
    num_classes, batch = class_input_ids.shape[0], pixel_values.shape[0]
    conditional = config.variant == "conditional"

    image_embeds = encode_images(clip, pixel_values)
    mu, logvar = layer.posterior(image_embeds if conditional else None)
    if deterministic:
        residuals = mu[None]
    else:
        num_samples = num_samples or (config.num_samples_train if training else config.num_samples_eval)
        if generator is None and not training and config.eval_seed is not None:
            generator = torch.Generator(device=mu.device).manual_seed(config.eval_seed)
        residuals = sample_residuals(mu, logvar, num_samples, generator, shared_noise=not training)
    samples = residuals.shape[0]

    # Prompt rows are sample-major: row = l*C + c (unconditional) or (l*B + b)*C + c (conditional).
    groups = residuals.reshape(-1, residuals.shape[-1])  # (L, D) or (L*B, D)
    rows_per_group = num_classes
    input_ids = class_input_ids.repeat(groups.shape[0], 1)
    mask = None if class_attention_mask is None else class_attention_mask.repeat(groups.shape[0], 1)
    residual_rows = groups.repeat_interleave(rows_per_group, dim=0)
    text = encode_prompts(clip, layer, input_ids, mask, residual_rows, config.text_batch_size)

    scale = clip.logit_scale.exp().float()
    if conditional:
        text = text.reshape(samples, batch, num_classes, -1)
        logits_per_sample = scale * torch.einsum("be,lbce->lbc", image_embeds, text)
    else:
        text = text.reshape(samples, num_classes, -1)
        logits_per_sample = scale * torch.einsum("be,lce->lbc", image_embeds, text)

    log_predictive = mc_log_predictive(logits_per_sample)
    probs_std = logits_per_sample.float().softmax(-1).std(0, unbiased=False)
    kl = gaussian_kl(mu, logvar, config.prior_std, config.kl_reduction).mean()
    loss = nll = None
    if labels is not None:
        if config.likelihood == "logmeanexp":
            nll = -log_predictive.gather(1, labels[:, None]).mean()
        else:
            log_probs = logits_per_sample.float().log_softmax(-1)
            nll = -log_probs.gather(2, labels[None, :, None].expand(samples, -1, 1)).mean()
        loss = nll + config.kl_weight * kl
    return BayesianPromptOutput(
        loss=loss, logits=log_predictive, logits_per_sample=logits_per_sample, probs_std=probs_std, nll=nll, kl=kl,
        posterior_mean=mu, posterior_logvar=logvar, image_embeds=image_embeds, text_embeds=text,
    )


# ------------------------------------------------------------------------------------------------- the tuner
class BayesianPromptModel(BaseTuner):
    """PEFT tuner of Bayesian Prompt Learning on a ``transformers.CLIPModel``.

    Created by ``get_peft_model(clip, BayesianPromptConfig(...))`` after ``import hfvid``; only the ``bpl_*``
    tensors train. ``peft_model.classify(...)`` runs :func:`bayesian_prompt_classify`; a plain forward of the
    wrapped CLIP sees the deterministic context (posterior mean).

    Example:

    ```python
    >>> import hfvid
    >>> from peft import PeftModel, get_peft_model
    >>> from hfvid import BayesianPromptConfig, build_class_prompts
    >>> peft_model = get_peft_model(clip, BayesianPromptConfig(n_ctx=4))  # doctest: +SKIP
    >>> prompts = build_class_prompts(tokenizer, ["dog", "cat"], peft_model.peft_config["default"])  # doctest: +SKIP
    >>> out = peft_model.classify(pixel_values, prompts["input_ids"], prompts["attention_mask"])  # doctest: +SKIP
    >>> peft_model.save_pretrained("bpl-adapter")  # adapter_config.json + adapter_model.safetensors  # doctest: +SKIP
    >>> reloaded = PeftModel.from_pretrained(clip, "bpl-adapter")  # doctest: +SKIP
    ```
    """

    prefix: str = "bpl_"
    tuner_layer_cls = BayesianPromptLayer
    target_module_mapping = {"clip": list(DEFAULT_TARGET_MODULES)}

    def _pre_injection_hook(self, model, config: BayesianPromptConfig, adapter_name: str) -> None:
        """Fill in (new adapter) or check (loaded adapter) the base model's sizes."""
        clip = unwrap_clip(model)
        width = clip.text_model.embeddings.token_embedding.embedding_dim
        projection = clip.config.projection_dim
        if config.token_dim is None:
            config.token_dim = width
        elif config.token_dim != width:
            raise ValueError(
                f"this BayesianPrompt adapter was saved for a CLIP text width token_dim={config.token_dim}, but the "
                f"base model has width {width}: load it onto the base model it was trained on"
            )
        if config.variant == "conditional":
            if config.image_embed_dim is None:
                config.image_embed_dim = projection
            elif config.image_embed_dim != projection:
                raise ValueError(
                    f"this BayesianPrompt adapter was saved for image_embed_dim={config.image_embed_dim}, but the "
                    f"base model's projection_dim is {projection}"
                )

    def _create_and_replace(self, peft_config, adapter_name, target, target_name, parent, current_key, **kwargs):
        if isinstance(target, BayesianPromptLayer):
            target.update_layer(adapter_name, peft_config)
        else:
            self._replace_module(parent, target_name, BayesianPromptLayer(target, adapter_name, peft_config), target)

    def _check_merge_allowed(self):
        raise ValueError("a BayesianPrompt adapter inserts context vectors; it cannot be merged into CLIP's weights")

    def classify(self, *args, **kwargs) -> BayesianPromptOutput:
        """:func:`bayesian_prompt_classify` on the wrapped CLIP model."""
        return bayesian_prompt_classify(self.model, *args, **kwargs)


__all__ = [
    "BayesianPromptModel",
    "BayesianPromptOutput",
    "bayesian_prompt_classify",
    "encode_images",
    "encode_prompts",
    "find_bayesian_prompt_layer",
    "gaussian_kl",
    "mc_log_predictive",
    "sample_residuals",
    "unwrap_clip",
]
