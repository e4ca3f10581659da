"""Affective Processes: a Neural Process over the frames of a face video for valence/arousal and AU intensity.

A per-frame backbone gives features ``x_t`` and task predictions ``y^_t`` (pseudo-labels). The context set C (some
frames of the window) is encoded pair by pair, ``r_c = h(proj(x_c), embed(y^_c))``, averaged, and mapped to a
Gaussian *global* latent ``q(z | C)``. Each frame is decoded from its own feature and z alone,
``p(y_t | x_t, z) = N(mu_y, sigma_y^2)``: all temporal information reaches a frame through z. Training maximises
the conditional ELBO: Gaussian NLL with ``z ~ q(z | T)`` (targets with ground-truth labels) minus
``KL(q(z | T) || q(z | C))`` (context with pseudo-labels), both normalised per labelled frame.

`AffectiveProcessModel` is the encoder (backbone, frame projection, context and latent encoders, or the GRU /
Transformer of the baselines); `AffectiveProcessForAffectEstimation` adds the decoder, the losses, the context
selection at inference and window stitching over whole sequences.
"""

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput, can_return_tuple

from ...modules.temporal import (
    FrameEncoder,
    SlidingWindowStitcher,
    TemporalModule,
    init_gru_weights,
    label_validity,
    masked_mean,
    masked_mse,
    sinusoidal_time_encoding,
)
from .configuration_affective_process import AffectiveProcessConfig

TIME_ENCODING_DIM = 16


def _mlp(sizes: list[int], activate_last: bool) -> nn.Sequential:
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if activate_last or i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def gaussian_kl(mean_q, std_q, mean_p, std_p) -> torch.Tensor:
    """``KL(N(mean_q, std_q^2) || N(mean_p, std_p^2))`` of diagonal Gaussians, summed over the last dim."""
    kl = torch.log(std_p / std_q) + (std_q**2 + (mean_q - mean_p) ** 2) / (2 * std_p**2) - 0.5
    return kl.sum(-1)


def masked_ccc(predictions, labels, valid) -> torch.Tensor:
    """Differentiable CCC per output ``(K,)`` over the valid entries of ``(..., K)`` tensors (population moments)."""
    weights = valid.to(predictions.dtype).flatten(0, -2)
    p = torch.where(valid, predictions, torch.zeros_like(predictions)).flatten(0, -2)
    g = torch.where(valid, labels, torch.zeros_like(labels)).flatten(0, -2)
    count = weights.sum(0).clamp_min(1.0)
    mean_p, mean_g = (p * weights).sum(0) / count, (g * weights).sum(0) / count
    var_p = (((p - mean_p) ** 2) * weights).sum(0) / count
    var_g = (((g - mean_g) ** 2) * weights).sum(0) / count
    cov = ((p - mean_p) * (g - mean_g) * weights).sum(0) / count
    return 2 * cov / (var_p + var_g + (mean_p - mean_g) ** 2).clamp_min(1e-8)


def frame_regression_loss(predictions, labels, valid, ccc: bool = False) -> torch.Tensor:
    """Stage-1 backbone loss: masked MSE (+ ``sum_k (1 - CCC_k)`` with ``ccc``, the valence/arousal recipe)."""
    loss = masked_mse(predictions, labels, valid)
    if ccc:
        loss = loss + (1 - masked_ccc(predictions, labels, valid)).sum()
    return loss


# ---------------------------------------------------------------------------------------------- context selection
def _rank_select(scores: torch.Tensor, valid: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Per row, the ``counts[b]`` valid frames with the highest score."""
    scores = torch.where(valid, scores, torch.full_like(scores, -float("inf")))
    ranks = scores.argsort(dim=1, descending=True).argsort(dim=1)
    return (ranks < counts[:, None]) & valid


def select_context(strategy: str, frame_mask: torch.Tensor, num_context: int, features=None, uncertainty=None,
                   generator=None, normalize: bool = True) -> torch.Tensor:
    """Context mask ``(B, T)`` of ``min(num_context, valid frames)`` frames per row by one of the AP strategies.

    ``random``: uniform subset (seeded by ``generator``); ``uniform``: evenly spaced over the valid frames, first
    and last included; ``confidence``: the frames with the lowest ``uncertainty (B, T)``; ``diversity``:
    farthest-point sampling on ``features (B, T, D)`` (L2-normalised with ``normalize``), starting at the frame
    nearest the mean.
    """
    valid = frame_mask.bool()
    counts = valid.sum(1).clamp(max=num_context)
    if strategy == "random":
        scores = torch.rand(valid.shape, generator=generator, device=valid.device if generator is None else "cpu")
        return _rank_select(scores.to(valid.device), valid, counts)
    if strategy == "confidence":
        if uncertainty is None:
            raise ValueError("context_selection='confidence' needs the predictive std of a first pass")
        return _rank_select(-uncertainty, valid, counts)
    context = torch.zeros_like(valid)
    for b in range(valid.shape[0]):
        indices = valid[b].nonzero().flatten()
        n = int(counts[b])
        if n == 0:
            continue
        if strategy == "uniform":
            picks = torch.linspace(0, len(indices) - 1, n, device=valid.device).round().long()
            context[b, indices[picks]] = True
        elif strategy == "diversity":
            if features is None:
                raise ValueError("context_selection='diversity' needs the frame features")
            points = features[b, indices].double()
            if normalize:
                points = F.normalize(points, dim=-1)
            chosen = [int((points - points.mean(0)).norm(dim=-1).argmin())]
            distance = (points - points[chosen[0]]).norm(dim=-1)
            for _ in range(n - 1):
                chosen.append(int(distance.argmax()))
                distance = torch.minimum(distance, (points - points[chosen[-1]]).norm(dim=-1))
            context[b, indices[chosen]] = True
        else:
            raise ValueError(f"unknown context selection {strategy!r}")
    return context


def sample_training_context(frame_mask: torch.Tensor, context_min: int, context_max: int) -> torch.Tensor:
    """NP training context: per row ``n_c ~ U{context_min..context_max}`` (capped by the valid frames), random."""
    valid = frame_mask.bool()
    high = valid.sum(1).clamp(min=1)
    sizes = torch.randint(context_min, context_max + 1, (valid.shape[0],), device=valid.device)
    counts = torch.minimum(sizes, high)
    return _rank_select(torch.rand(valid.shape, device=valid.device), valid, counts)


# ---------------------------------------------------------------------------------------------- outputs
@dataclass
class AffectiveProcessModelOutput(ModelOutput):
    """
    Args:
        last_hidden_state (`(B, T, H)`): per-frame decoder inputs without z (projected features, or the GRU /
            Transformer states of the baselines).
        features (`(B, T, D)`): backbone features `x_t` (zero at invalid frames).
        backbone_predictions (`(B, T, K)`): the backbone's per-frame predictions `y^_t` (pseudo-labels).
        prior_mean, prior_std (`(B, Z)`): `q(z | C)`; posterior_mean, posterior_std (`(B, Z)`): `q(z | T)`
            (only when labels are given).
        context_mask (`(B, T)`): the context set used.
    """

    last_hidden_state: torch.FloatTensor | None = None
    features: torch.FloatTensor | None = None
    backbone_predictions: torch.FloatTensor | None = None
    prior_mean: torch.FloatTensor | None = None
    prior_std: torch.FloatTensor | None = None
    posterior_mean: torch.FloatTensor | None = None
    posterior_std: torch.FloatTensor | None = None
    context_mask: torch.BoolTensor | None = None


@dataclass
class AffectiveProcessOutput(ModelOutput):
    """
    Args:
        loss (`()`, with labels): `nll_weight * nll + kl_weight * kl (+ ccc, backbone terms)`.
        nll (`()`): Gaussian NLL per labelled frame (constant dropped). kl (`()`): KL per labelled frame.
        predictions (`(B, T, K)`): predictive means (unclamped; the processor clamps to `output_range`).
        predictions_std (`(B, T, K)`): predictive std (model uncertainty, not annotator disagreement).
        prior_mean, prior_std, posterior_mean, posterior_std (`(B, Z)`): latent distributions.
        context_mask (`(B, T)`), backbone_predictions (`(B, T, K)`), features (`(B, T, D)`): as in the encoder.
    """

    loss: torch.FloatTensor | None = None
    nll: torch.FloatTensor | None = None
    kl: torch.FloatTensor | None = None
    predictions: torch.FloatTensor | None = None
    predictions_std: torch.FloatTensor | None = None
    prior_mean: torch.FloatTensor | None = None
    prior_std: torch.FloatTensor | None = None
    posterior_mean: torch.FloatTensor | None = None
    posterior_std: torch.FloatTensor | None = None
    context_mask: torch.BoolTensor | None = None
    backbone_predictions: torch.FloatTensor | None = None
    features: torch.FloatTensor | None = None


# ---------------------------------------------------------------------------------------------- models
class AffectiveProcessPreTrainedModel(PreTrainedModel):
    config: AffectiveProcessConfig
    base_model_prefix = "affective_process"
    main_input_name = "pixel_values"
    input_modalities = ("video",)

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)
        init_gru_weights(module, self.config.initializer_range)


class AffectiveProcessModel(AffectiveProcessPreTrainedModel):
    """Backbone + frame projection + (context encoder and latent encoder | GRU / Transformer baseline)."""

    def __init__(self, config: AffectiveProcessConfig):
        super().__init__(config)
        k = config.num_outputs
        self.frame_encoder = FrameEncoder(config.backbone_config, num_outputs=k) if config.use_backbone else None
        time_dim = TIME_ENCODING_DIM if config.use_time_encoding else 0
        self.feature_proj = nn.Sequential(nn.Linear(config.feature_dim + time_dim, config.feature_proj_dim), nn.ReLU())
        self.temporal = None
        self.label_embed = None
        if config.temporal_model in ("gru", "transformer"):
            self.temporal = TemporalModule(config.temporal_model, config.feature_proj_dim,
                                           config.temporal_hidden_size, config.temporal_num_layers)
        if config.uses_latent:
            label_dim = 0
            if config.temporal_model == "ap" and config.use_pseudo_labels:
                self.label_embed = nn.Sequential(nn.Linear(k, config.label_embed_dim), nn.ReLU())
                label_dim = config.label_embed_dim
            self.context_encoder = _mlp([config.feature_proj_dim + label_dim, *config.encoder_hidden_sizes], False)
            self.latent_trunk = nn.Sequential(
                nn.Linear(config.encoder_hidden_sizes[-1], config.latent_hidden_size), nn.ReLU())
            self.latent_mean = nn.Linear(config.latent_hidden_size, config.latent_dim)
            self.latent_std = nn.Linear(config.latent_hidden_size, config.latent_dim)
        self.post_init()
        if self.frame_encoder is not None:  # after post_init, which would re-initialise the loaded weights
            self.frame_encoder.load_backbone_init(config.backbone_init)

    @property
    def hidden_size(self) -> int:
        return self.temporal.output_size if self.temporal is not None else self.config.feature_proj_dim

    def encode_frames(self, pixel_values=None, features=None, pseudo_labels=None, frame_mask=None):
        """Inputs -> ``(features, pseudo_labels, frame_mask, hidden)``, invalid frames zeroed."""
        config = self.config
        if (pixel_values is None) == (features is None):
            raise ValueError("give exactly one of pixel_values (B, T, 3, H, W) or features (B, T, feature_dim)")
        if pixel_values is not None:
            if self.frame_encoder is None:
                raise ValueError("this model has no backbone (use_backbone=False): pass features, not pixel_values")
            shape = FrameEncoder.check_pixel_values(pixel_values)
        else:
            if features.ndim != 3 or features.shape[-1] != config.feature_dim:
                raise ValueError(f"features must have shape (batch, frames, feature_dim={config.feature_dim}), got "
                                 f"{tuple(features.shape)}")
            shape = features.shape[:2]
        if frame_mask is None:
            device = (pixel_values if features is None else features).device
            frame_mask = torch.ones(shape, dtype=torch.bool, device=device)
        elif tuple(frame_mask.shape) != tuple(shape):
            raise ValueError(f"frame_mask must have shape {tuple(shape)} (batch, frames), "
                             f"got {tuple(frame_mask.shape)}")
        frame_mask = frame_mask.bool()
        if pixel_values is not None:
            pixel_values = torch.where(frame_mask[..., None, None, None], pixel_values, torch.zeros_like(pixel_values))
            features, predictions = self.frame_encoder(pixel_values, frame_mask)
            pseudo_labels = predictions if pseudo_labels is None else pseudo_labels
        features = torch.where(frame_mask[..., None], features, torch.zeros_like(features))
        if pseudo_labels is None and self.frame_encoder is not None:
            pseudo_labels = self.frame_encoder.head(features)
        if pseudo_labels is not None:
            if tuple(pseudo_labels.shape) != (*shape, config.num_outputs):
                raise ValueError(f"pseudo_labels must have shape {(*shape, config.num_outputs)}, got "
                                 f"{tuple(pseudo_labels.shape)}")
            pseudo_labels = torch.where(frame_mask[..., None], pseudo_labels, torch.zeros_like(pseudo_labels))
        elif self.label_embed is not None:
            raise ValueError("a features-only AP model needs pseudo_labels (B, T, num_outputs) with the features")
        inputs = features
        if config.use_time_encoding:
            positions = torch.arange(shape[1], device=features.device).expand(shape)
            encoding = sinusoidal_time_encoding(positions, TIME_ENCODING_DIM).to(features.dtype)
            inputs = torch.cat([features, encoding], -1)
        hidden = self.feature_proj(inputs)
        if self.temporal is not None:
            hidden, _ = self.temporal(hidden, frame_mask)
        hidden = torch.where(frame_mask[..., None], hidden, torch.zeros_like(hidden))
        return features, pseudo_labels, frame_mask, hidden

    def latent_distribution(self, hidden, labels, mask):
        """``q(z | S)`` for the set ``mask (B, T)``: mean and std ``(B, Z)`` (labels: pseudo or ground truth)."""
        inputs = hidden
        if self.label_embed is not None:
            inputs = torch.cat([hidden, self.label_embed(labels)], dim=-1)
        representation = masked_mean(self.context_encoder(inputs), mask)
        trunk = self.latent_trunk(representation)
        std = self.config.min_latent_std + (1 - self.config.min_latent_std) * torch.sigmoid(self.latent_std(trunk))
        return self.latent_mean(trunk), std

    def context_labels(self, pseudo_labels):
        if pseudo_labels is None:
            return None
        return pseudo_labels.detach() if self.config.detach_pseudo_labels else pseudo_labels

    def posterior_labels(self, pseudo_labels, labels, valid):
        """Ground truth where valid (else the pseudo-label), or the pseudo-labels themselves."""
        context = self.context_labels(pseudo_labels)
        if labels is None or self.config.posterior_label_source == "pseudo" or self.label_embed is None:
            return context
        return torch.where(valid, labels, context)

    @can_return_tuple
    @torch.compiler.disable
    def select_context_mask(self, frame_mask, features, generator=None):
        """The default context set ``(B, T)``: random (``context_min..context_max`` frames) in training,
        `config.context_selection` in eval (``confidence`` needs the decoder: the encoder alone uses ``uniform``,
        the first pass of :meth:`AffectiveProcessForAffectEstimation.select_context_mask`). Data-dependent Python (per-row loops), so ``forward`` only runs it without a ``context_mask``
        and ``torch.compile`` leaves it out of the graph."""
        config = self.config
        if self.training:
            return sample_training_context(frame_mask, config.context_min, config.context_max)
        strategy = "uniform" if config.context_selection == "confidence" else config.context_selection
        return select_context(strategy, frame_mask, config.num_context_eval, features, generator=generator,
                              normalize=config.diversity_normalize)

    @can_return_tuple
    def forward(self, pixel_values=None, features=None, pseudo_labels=None, frame_mask=None, context_mask=None,
                labels=None, label_mask=None, generator=None):
        """Encode a batch of windows. Without `context_mask`, :meth:`select_context_mask` picks the context set
        (pass a `context_mask` to trace, export or compile the forward pass without graph breaks)."""
        features, pseudo, frame_mask, hidden = self.encode_frames(pixel_values, features, pseudo_labels, frame_mask)
        output = AffectiveProcessModelOutput(last_hidden_state=hidden, features=features, backbone_predictions=pseudo)
        config = self.config
        if config.uses_latent:
            if context_mask is None:
                context_mask = self.select_context_mask(frame_mask, features, generator=generator)
            context_mask = context_mask.bool() & frame_mask
            output.context_mask = context_mask
            output.prior_mean, output.prior_std = self.latent_distribution(hidden, self.context_labels(pseudo),
                                                                           context_mask)
            if labels is not None:
                valid = label_validity(labels, label_mask, frame_mask)
                post = self.posterior_labels(pseudo, torch.nan_to_num(labels), valid)
                output.posterior_mean, output.posterior_std = self.latent_distribution(hidden, post, frame_mask)
        return output


class AffectiveProcessForAffectEstimation(AffectiveProcessPreTrainedModel):
    """Affective Processes with the per-frame Gaussian decoder, the ELBO loss and inference over long sequences.

    Example:

    ```python
    >>> import torch, hfvid
    >>> from hfvid import AffectiveProcessConfig, AffectiveProcessForAffectEstimation
    >>> config = AffectiveProcessConfig(use_backbone=False, feature_dim=16, feature_proj_dim=32,
    ...     label_embed_dim=8, encoder_hidden_sizes=[32, 32], latent_hidden_size=32, latent_dim=8,
    ...     decoder_hidden_sizes=[32, 32])
    >>> model = AffectiveProcessForAffectEstimation(config)
    >>> out = model(features=torch.randn(2, 64, 16), pseudo_labels=torch.randn(2, 64, 2),
    ...             labels=torch.randn(2, 64, 2))
    >>> out.predictions.shape, out.loss.ndim
    (torch.Size([2, 64, 2]), 0)
    ```
    """

    def __init__(self, config: AffectiveProcessConfig):
        super().__init__(config)
        self.affective_process = AffectiveProcessModel(config)
        in_dim = self.affective_process.hidden_size + (config.latent_dim if config.uses_latent else 0)
        self.decoder = _mlp([in_dim, *config.decoder_hidden_sizes], True)
        self.mean_head = nn.Linear(config.decoder_hidden_sizes[-1], config.num_outputs)
        self.std_head = nn.Linear(config.decoder_hidden_sizes[-1], config.num_outputs)
        self.post_init()

    def decode(self, hidden, z=None):
        """Per-frame Gaussian ``(mean, std)`` ``(B, T, K)`` from the frame states and a latent ``z (B, Z)``."""
        if z is not None:
            hidden = torch.cat([hidden, z[:, None, :].expand(-1, hidden.shape[1], -1)], dim=-1)
        trunk = self.decoder(hidden)
        return self.mean_head(trunk), self.config.min_output_std + F.softplus(self.std_head(trunk))

    def _predict(self, hidden, prior_mean, prior_std, num_samples: int, generator=None):
        """Predictive mean/std at inference: ``z = mu_z``, or the mixture of ``num_samples`` latent samples."""
        if prior_mean is None:
            return self.decode(hidden)
        if num_samples <= 0:
            return self.decode(hidden, prior_mean)
        means, second = 0.0, 0.0
        for _ in range(num_samples):
            noise = torch.randn(prior_mean.shape, generator=generator, device="cpu" if generator is not None else
                                prior_mean.device).to(prior_mean)
            mean, std = self.decode(hidden, prior_mean + prior_std * noise)
            means, second = means + mean, second + std**2 + mean**2
        mean = means / num_samples
        return mean, (second / num_samples - mean**2).clamp_min(0).sqrt()

    @can_return_tuple
    def forward(self, pixel_values=None, features=None, pseudo_labels=None, frame_mask=None, context_mask=None,
                labels=None, label_mask=None, num_latent_samples=None, generator=None):
        r"""
        Args:
            pixel_values (`(B, T, 3, H, W)`) or features (`(B, T, feature_dim)`): face crops or cached features
                (with `pseudo_labels (B, T, K)` when the model has no backbone).
            frame_mask (`(B, T)` bool, *optional*): real frames (padding and no-face frames False).
            context_mask (`(B, T)` bool, *optional*): the context set; default: :meth:`select_context_mask`
                (random in training, `config.context_selection` in eval). Give it to trace/export/compile the
                forward pass: the default selection is data-dependent Python.
            labels (`(B, T, K)`, *optional*): targets; NaN (or `label_mask` False) marks a missing label.
            label_mask (`(B, T)` or `(B, T, K)` bool, *optional*).
            num_latent_samples (`int`, *optional*): eval only; default `config.num_latent_samples_eval`.
            generator (`torch.Generator`, *optional*): seeds latent sampling and the `random` context.
        """
        config = self.config
        ap = self.affective_process
        features, pseudo, frame_mask, hidden = ap.encode_frames(pixel_values, features, pseudo_labels, frame_mask)
        shape = tuple(frame_mask.shape)
        if labels is not None and tuple(labels.shape) != (*shape, config.num_outputs):
            raise ValueError(f"labels must have shape {(*shape, config.num_outputs)}, got {tuple(labels.shape)}")
        if context_mask is not None and tuple(context_mask.shape) != shape:
            raise ValueError(f"context_mask must have shape {shape} (batch, frames), got {tuple(context_mask.shape)}")
        valid = label_validity(labels, label_mask, frame_mask) if labels is not None else None
        clean_labels = torch.nan_to_num(labels) if labels is not None else None
        samples = config.num_latent_samples_eval if num_latent_samples is None else num_latent_samples
        output = AffectiveProcessOutput(features=features, backbone_predictions=pseudo)

        prior_mean = prior_std = None
        if config.uses_latent:
            context_labels = ap.context_labels(pseudo)
            if context_mask is None:
                context_mask = self.select_context_mask(frame_mask, features, hidden, context_labels, generator)
            context_mask = context_mask.bool() & frame_mask
            prior_mean, prior_std = ap.latent_distribution(hidden, context_labels, context_mask)
            output.context_mask, output.prior_mean, output.prior_std = context_mask, prior_mean, prior_std

        if self.training or not config.uses_latent:
            mean, std = None, None
        else:
            mean, std = self._predict(hidden, prior_mean, prior_std, samples, generator)

        if labels is not None:
            z = None
            if config.uses_latent:
                post = ap.posterior_labels(pseudo, clean_labels, valid)
                post_mean, post_std = ap.latent_distribution(hidden, post, frame_mask)
                output.posterior_mean, output.posterior_std = post_mean, post_std
                z = post_mean + post_std * torch.randn_like(post_std) if self.training else post_mean
            fit_mean, fit_std = self.decode(hidden, z)
            num_frames = valid.any(-1).sum().clamp_min(1).to(fit_mean.dtype)
            error = torch.where(valid, clean_labels - fit_mean, torch.zeros_like(fit_mean))
            nll_terms = torch.log(fit_std) + error**2 / (2 * fit_std**2)
            output.nll = torch.where(valid, nll_terms, torch.zeros_like(nll_terms)).sum() / num_frames
            loss = config.nll_weight * output.nll
            if config.uses_latent:
                output.kl = gaussian_kl(post_mean, post_std, prior_mean, prior_std).sum() / num_frames
                loss = loss + config.kl_weight * output.kl
            if config.ccc_loss_weight > 0:
                loss = loss + config.ccc_loss_weight * (1 - masked_ccc(fit_mean, clean_labels, valid)).sum()
            if config.backbone_loss_weight > 0 and pseudo is not None and pixel_values is not None:
                loss = loss + config.backbone_loss_weight * frame_regression_loss(pseudo, clean_labels, valid)
            output.loss = loss
            if mean is None:
                mean, std = fit_mean, fit_std
        if mean is None:  # training without labels: one latent sample from the prior
            z = prior_mean + prior_std * torch.randn_like(prior_std) if config.uses_latent else None
            mean, std = self.decode(hidden, z)
        output.predictions, output.predictions_std = mean, std
        return output

    @torch.compiler.disable
    def select_context_mask(self, frame_mask, features, hidden, context_labels=None, generator=None):
        """The default context set ``(B, T)`` (see :meth:`AffectiveProcessModel.select_context_mask`); with
        ``context_selection="confidence"`` a second pass keeps the frames the decoder is surest about."""
        config = self.config
        ap = self.affective_process
        context_mask = ap.select_context_mask(frame_mask, features, generator=generator)
        if not self.training and config.context_selection == "confidence":
            mean_z, _ = ap.latent_distribution(hidden, context_labels, context_mask)
            _, std = self.decode(hidden, mean_z)
            context_mask = select_context("confidence", frame_mask, config.num_context_eval, uncertainty=std.mean(-1))
        return context_mask

    # ------------------------------------------------------------------ long sequences
    @torch.no_grad()
    def predict_window(self, features, pseudo_labels=None, frame_mask=None, num_latent_samples=None,
                       generator=None) -> np.ndarray:
        """One window ``features (n, D)`` -> ``(n, 2K)`` array of predictive means then stds (eval mode)."""
        features = torch.as_tensor(features, dtype=self.dtype, device=self.device)[None]
        pseudo = None if pseudo_labels is None else torch.as_tensor(pseudo_labels, dtype=self.dtype,
                                                                    device=self.device)[None]
        mask = None if frame_mask is None else torch.as_tensor(frame_mask, dtype=torch.bool, device=self.device)[None]
        if mask is not None and not mask.any():
            return np.full((features.shape[1], 2 * self.config.num_outputs), np.nan)
        out = self(features=features, pseudo_labels=pseudo, frame_mask=mask, num_latent_samples=num_latent_samples,
                   generator=generator)
        return torch.cat([out.predictions, out.predictions_std], -1)[0].float().cpu().numpy()

    def window_stitcher(self, num_latent_samples=None, generator=None) -> SlidingWindowStitcher:
        """A streaming stitcher fed with ``(feature (D,), pseudo_label (K,) | None, valid)`` items per frame; it
        yields ``(frame index, [means..., stds...])`` with overlapping windows averaged."""

        def run(items):
            features = np.stack([item[0] for item in items])
            pseudo = None if items[0][1] is None else np.stack([item[1] for item in items])
            mask = np.array([item[2] for item in items], dtype=bool)
            return self.predict_window(features, pseudo, mask, num_latent_samples, generator)

        return SlidingWindowStitcher(self.config.window_size, self.config.window_stride, run)

    def predict_sequence(self, features, pseudo_labels=None, frame_mask=None, num_latent_samples=None,
                         generator=None) -> tuple[np.ndarray, np.ndarray]:
        """A whole sequence ``features (T, D)`` -> ``(mean (T, K), std (T, K))`` with windowed inference."""
        was_training = self.training
        self.eval()
        features = np.asarray(features, dtype=np.float32)
        length, k = len(features), self.config.num_outputs
        mask = np.ones(length, bool) if frame_mask is None else np.asarray(frame_mask, bool)
        stitcher = self.window_stitcher(num_latent_samples, generator)
        rows = []
        for t in range(length):
            rows += stitcher.push((features[t], None if pseudo_labels is None else pseudo_labels[t], mask[t]))
        rows += stitcher.flush()
        self.train(was_training)
        out = np.stack([row for _, row in rows]) if rows else np.zeros((0, 2 * k))
        out[~mask] = np.nan
        return out[:, :k], out[:, k:]


__all__ = [
    "AffectiveProcessForAffectEstimation",
    "AffectiveProcessModel",
    "AffectiveProcessModelOutput",
    "AffectiveProcessOutput",
    "AffectiveProcessPreTrainedModel",
    "frame_regression_loss",
    "gaussian_kl",
    "masked_ccc",
    "sample_training_context",
    "select_context",
]
