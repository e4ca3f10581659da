"""The BPL tuner layer: wraps CLIP's text token embedding and writes the (shifted) learned context into prompts."""

from contextlib import contextmanager

import torch
from peft.tuners.tuners_utils import BaseTunerLayer
from torch import nn

from .config import BayesianPromptConfig


def posterior_mlp(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    """The released posterior network: Linear -> ELU -> Linear -> ELU -> Linear (biases on)."""
    return nn.Sequential(
        nn.Linear(in_dim, hidden_dim), nn.ELU(), nn.Linear(hidden_dim, hidden_dim), nn.ELU(),
        nn.Linear(hidden_dim, out_dim),
    )


class BayesianPromptLayer(nn.Module, BaseTunerLayer):
    """``nn.Embedding`` wrapper: prompt positions ``[ctx_start, ctx_start + n_ctx)`` become ``ctx + r``.

    Per adapter it holds the context ``bpl_ctx`` (M, D) and the posterior of the residual ``r``: ``bpl_mu`` and
    ``bpl_logvar`` (D,) (unconditional) or the MLPs ``bpl_mu_net`` / ``bpl_logvar_net`` on the normalised image
    embedding (conditional). Which ``r`` each prompt row gets is set by the caller with
    ``with layer.bpl_residual(r_rows): ...`` (``r_rows`` (N, D) aligned with the rows of ``input_ids``, or (D,));
    outside that block ``r`` is the posterior mean (unconditional) or 0 (conditional), so plain ``CLIPModel`` calls
    (e.g. the stock zero-shot pipeline) see the deterministic CoOp prompt. Every other position is untouched.
    """

    adapter_layer_names = ("bpl_ctx", "bpl_mu", "bpl_logvar", "bpl_mu_net", "bpl_logvar_net")
    other_param_names = ("bpl_config",)

    def __init__(self, base_layer: nn.Module, adapter_name: str, config: BayesianPromptConfig, **kwargs) -> None:
        super().__init__()
        if not isinstance(base_layer, nn.Embedding):
            raise ValueError(
                f"BayesianPromptConfig.target_modules must name CLIP's text token embedding (an nn.Embedding), "
                f"got a {type(base_layer).__name__}"
            )
        self.base_layer = base_layer
        self.bpl_ctx = nn.ParameterDict()
        self.bpl_mu = nn.ParameterDict()
        self.bpl_logvar = nn.ParameterDict()
        self.bpl_mu_net = nn.ModuleDict()
        self.bpl_logvar_net = nn.ModuleDict()
        self.bpl_config: dict[str, BayesianPromptConfig] = {}
        self._bpl_residual: torch.Tensor | None = None
        self.kwargs = kwargs
        self._active_adapter = adapter_name
        self.update_layer(adapter_name, config)

    @property
    def token_dim(self) -> int:
        return self.get_base_layer().embedding_dim

    def update_layer(self, adapter_name: str, config: BayesianPromptConfig) -> None:
        """Create adapter ``adapter_name``: context from ``ctx_init_token_ids`` (or random) and a fresh posterior."""
        base = self.get_base_layer()
        dim, device = base.embedding_dim, base.weight.device
        if config.token_dim is not None and config.token_dim != dim:
            raise ValueError(
                f"this BayesianPrompt adapter was made for a CLIP text width token_dim={config.token_dim}, but the "
                f"base model's token embedding has width {dim}: load it onto the base model it was trained on"
            )
        with torch.no_grad():
            if config.ctx_init_token_ids is not None:
                ids = torch.tensor(config.ctx_init_token_ids, device=device)
                if int(ids.max()) >= base.num_embeddings:
                    raise ValueError(
                        f"ctx_init_token_ids {config.ctx_init_token_ids} exceed the vocabulary ({base.num_embeddings})"
                    )
                ctx = base.weight[ids].detach().float().clone()
            else:
                ctx = torch.randn(config.n_ctx, dim, device=device) * config.ctx_init_std
        self.bpl_ctx[adapter_name] = nn.Parameter(ctx)
        if config.variant == "unconditional":
            self.bpl_mu[adapter_name] = nn.Parameter(torch.zeros(dim, device=device))
            logvar = torch.empty(dim, device=device)
            if config.logvar_init == "uniform":
                logvar.uniform_(0.0, 1.0)
            else:
                logvar.fill_(float(config.logvar_init))
            self.bpl_logvar[adapter_name] = nn.Parameter(logvar)
        else:
            if config.image_embed_dim is None:
                raise ValueError("the conditional variant needs image_embed_dim (CLIP's projection_dim)")
            hidden = config.meta_hidden_dim or max(config.image_embed_dim // 2, 1)
            self.bpl_mu_net[adapter_name] = posterior_mlp(config.image_embed_dim, hidden, dim).to(device)
            self.bpl_logvar_net[adapter_name] = posterior_mlp(config.image_embed_dim, hidden, dim).to(device)
        self.bpl_config[adapter_name] = config
        self.set_adapter(self.active_adapters)

    # --------------------------------------------------------------------------------------------- residuals
    @property
    def bpl_adapter(self) -> str:
        """The one active adapter (BPL prompts cannot combine several contexts)."""
        active = [name for name in self.active_adapters if name in self.bpl_ctx]
        if len(active) != 1:
            raise ValueError(f"exactly one BayesianPrompt adapter must be active, got {self.active_adapters}")
        return active[0]

    def posterior(self, image_embeds: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of ``q(r)``: (D,) each, or (B, D) from normalised ``image_embeds`` (conditional)."""
        name = self.bpl_adapter
        if self.bpl_config[name].variant == "unconditional":
            return self.bpl_mu[name], self.bpl_logvar[name]
        if image_embeds is None:
            raise ValueError("the conditional BayesianPrompt posterior needs image_embeds")
        z = image_embeds.float()
        return self.bpl_mu_net[name](z), self.bpl_logvar_net[name](z)

    @contextmanager
    def bpl_residual(self, residual: torch.Tensor):
        """Within the block, prompt rows get ``ctx + residual`` (rows (N, D) aligned with ``input_ids``, or (D,))."""
        previous, self._bpl_residual = self._bpl_residual, residual
        try:
            yield self
        finally:
            self._bpl_residual = previous

    # --------------------------------------------------------------------------------------------- forward
    def forward(self, input_ids: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        embeds = self.base_layer(input_ids, *args, **kwargs)
        if self.disable_adapters or self.merged or not any(n in self.bpl_ctx for n in self.active_adapters):
            return embeds
        name = self.bpl_adapter
        start, n_ctx = self.bpl_config[name].ctx_start, self.bpl_config[name].n_ctx
        if embeds.dim() != 3 or embeds.shape[1] < start + n_ctx:
            raise ValueError(
                f"input_ids must be (batch, length) prompts with at least ctx_start + n_ctx = {start + n_ctx} tokens, "
                f"got shape {tuple(input_ids.shape)}"
            )
        residual = self._bpl_residual
        if residual is None:
            residual = self.bpl_mu[name] if name in self.bpl_mu else self.bpl_ctx[name].new_zeros(self.token_dim)
        rows = embeds.shape[0]
        if residual.dim() == 1:
            residual = residual.expand(rows, -1)
        if residual.shape != (rows, self.token_dim):
            raise ValueError(f"the residual must be ({rows}, {self.token_dim}) or ({self.token_dim},), "
                             f"got {tuple(residual.shape)}")
        context = self.bpl_ctx[name][None] + residual[:, None, :]
        return torch.cat([embeds[:, :start], context.to(embeds.dtype), embeds[:, start + n_ctx:]], dim=1)

    def merge(self, *args, **kwargs) -> None:
        raise ValueError("a BayesianPrompt adapter inserts context vectors; it cannot be merged into the weights")

    def __repr__(self) -> str:
        return "bayesian_prompt." + super().__repr__()


__all__ = ["BayesianPromptLayer", "posterior_mlp"]
