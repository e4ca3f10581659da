"""MeMSVD's memory: the top-n_c left singular vectors of the long-term feature bank, batch or incremental.

The memory of a sample is ``M = [l_1, ..., l_N]`` (features as columns, ``d x N``). MeMSVD keeps only the basis
``U_c`` (``d x n_c``) of its dominant subspace and reads it out for a short-term feature ``h`` by projection and
reconstruction, ``c = U_c^T h`` and ``h_hat = U_c c`` (no query/key/value projections, no softmax over N).

Two ways to get the basis, both batched over samples and computed in float64:

- :meth:`MeMSVDMemory.from_bank`: thin SVD of a whole (padded, masked) window, for training and offline
  inference (``svd_driver="gram"`` takes ``eigh`` of the smaller Gram matrix, ``"svd"`` calls ``torch.linalg.svd``);
- :meth:`MeMSVDMemory.init_state` / :meth:`MeMSVDMemory.update`: incremental SVD (Brand 2002 with a forgetting
  factor, as in Ross et al. 2008) that folds in one block of new features at a time, truncates to ``max_rank`` and
  never stores the bank: the state is ``U (d x k)`` and ``s (k)``.

Raw singular vectors are defined up to sign/rotation, so only projectors ``U_c U_c^T`` are meaningful; columns whose
singular value is below ``rank_tolerance * sigma_1`` (padding, empty windows, rank-deficient banks) are zeroed, so
an empty memory reconstructs ``h_hat = 0``.
"""

from dataclasses import dataclass

import torch
from torch import nn

COMPUTE_DTYPE = torch.float64


@dataclass
class MeMSVDState:
    """Streaming memory of a batch: basis ``U`` (batch, d, max_rank), singular values ``s`` (batch, max_rank),
    sorted descending, zero-padded; ``num_updates`` counts the blocks folded in (drives re-orthonormalisation).
    With ``center_memory`` the state also keeps the running ``mean`` (batch, d) and (forgetting-weighted) ``count``
    (batch,) of the features folded in, so that ``U`` spans the centred memory as in batch mode."""

    U: torch.Tensor
    s: torch.Tensor
    num_updates: int = 0
    mean: torch.Tensor | None = None
    count: torch.Tensor | None = None

    def nbytes(self) -> int:
        """Bytes held by the state (what streaming keeps instead of the N x d bank)."""
        tensors = [t for t in (self.U, self.s, self.mean, self.count) if t is not None]
        return sum(t.numel() * t.element_size() for t in tensors)


def _drop_small(U: torch.Tensor, s: torch.Tensor, tolerance: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero the singular values (and their vectors) below ``tolerance * sigma_1``: they are padding or round-off."""
    keep = s > tolerance * s[..., :1]
    return U * keep.unsqueeze(-2).to(U.dtype), s * keep.to(s.dtype)


class MeMSVDMemory(nn.Module):
    """Low-rank memory of MeMSVD (parameter-free).

    Args:
        num_components (`int`): n_c, basis vectors used for the read-out.
        max_rank (`int`): k, working rank of the incremental state (>= n_c).
        forgetting_factor (`float`): f in (0, 1]; old memory is scaled by f at every update (1 = exact).
        svd_driver (`str`): `"gram"` or `"svd"` for :meth:`from_bank`.
        center_memory (`bool`): subtract the (masked) mean feature before the SVD; incrementally, the running mean
            is updated with every block (Ross et al. 2008), exact for `forgetting_factor=1`.
        normalize_memory (`bool`): L2-normalise each memory feature first.
        reorthonormalize_every (`int`): re-orthonormalise the incremental basis every this many updates.
        rank_tolerance (`float`): relative threshold below which singular values count as zero.
    """

    def __init__(
        self,
        num_components: int = 16,
        max_rank: int = 64,
        forgetting_factor: float = 1.0,
        svd_driver: str = "gram",
        center_memory: bool = False,
        normalize_memory: bool = False,
        reorthonormalize_every: int = 50,
        rank_tolerance: float = 1e-6,
    ):
        super().__init__()
        if not 1 <= num_components <= max_rank:
            raise ValueError(f"need 1 <= num_components <= max_rank, got {num_components} and {max_rank}")
        if not 0.0 < forgetting_factor <= 1.0:
            raise ValueError(f"forgetting_factor must be in (0, 1], got {forgetting_factor}")
        if svd_driver not in ("gram", "svd"):
            raise ValueError(f"svd_driver must be 'gram' or 'svd', got {svd_driver!r}")
        self.num_components, self.max_rank = num_components, max_rank
        self.forgetting_factor, self.svd_driver = forgetting_factor, svd_driver
        self.center_memory, self.normalize_memory = center_memory, normalize_memory
        self.reorthonormalize_every, self.rank_tolerance = reorthonormalize_every, rank_tolerance

    # ------------------------------------------------------------------ batch window
    def _prepare(self, features: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """(batch, N, d) features -> float64 with masked rows zeroed (optionally normalised / centred)."""
        x = features.to(COMPUTE_DTYPE)
        if self.normalize_memory:
            x = x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        if mask is not None:
            x = x * mask.unsqueeze(-1).to(x.dtype)
        if self.center_memory:
            count = (mask.sum(-1) if mask is not None else torch.full(x.shape[:1], x.shape[1])).clamp_min(1)
            x = x - x.sum(1, keepdim=True) / count.to(x.dtype).view(-1, 1, 1)
            if mask is not None:
                x = x * mask.unsqueeze(-1).to(x.dtype)
        return x

    def from_bank(
        self, memory_features: torch.Tensor, memory_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Basis of a whole window: ``(batch, N, d)`` features (+ ``(batch, N)`` bool mask) -> ``U_c`` (batch, d,
        n_c) and ``s`` (batch, n_c) in float64. Fewer than n_c valid features give zero columns (clamped n_c)."""
        x = self._prepare(memory_features, memory_mask)  # rows are features: M = x^T
        n, d = x.shape[1], x.shape[2]
        rank = min(n, d)
        if self.svd_driver == "svd":
            U, s, _ = torch.linalg.svd(x.transpose(1, 2), full_matrices=False)
        elif n < d:  # eigh of the N x N Gram matrix, U = M V / sigma for the kept sigmas
            eigenvalues, V = torch.linalg.eigh(x @ x.transpose(1, 2))
            eigenvalues, V = eigenvalues.flip(-1), V.flip(-1)
            s = eigenvalues.clamp_min(0).sqrt()
            keep = s > self.rank_tolerance * s[..., :1]
            U = (x.transpose(1, 2) @ V) / torch.where(keep, s, torch.ones_like(s)).unsqueeze(-2)
        else:  # eigh of the d x d matrix M M^T gives U directly
            eigenvalues, U = torch.linalg.eigh(x.transpose(1, 2) @ x)
            eigenvalues, U = eigenvalues.flip(-1), U.flip(-1)
            s = eigenvalues.clamp_min(0).sqrt()
        U, s = U[..., :rank], s[..., :rank]
        U, s = _drop_small(U, s, self.rank_tolerance)
        return self._top(U, s, self.num_components)

    @staticmethod
    def _top(U: torch.Tensor, s: torch.Tensor, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """First ``count`` columns, zero-padded when fewer exist."""
        if U.shape[-1] >= count:
            return U[..., :count], s[..., :count]
        pad = count - U.shape[-1]
        return torch.nn.functional.pad(U, (0, pad)), torch.nn.functional.pad(s, (0, pad))

    # ------------------------------------------------------------------ streaming
    def init_state(self, batch_size: int, feature_dim: int, device=None) -> MeMSVDState:
        """An empty memory (all-zero basis; zero mean and count when centring)."""
        centring = {}
        if self.center_memory:
            centring = {"mean": torch.zeros(batch_size, feature_dim, dtype=COMPUTE_DTYPE, device=device),
                        "count": torch.zeros(batch_size, dtype=COMPUTE_DTYPE, device=device)}
        return MeMSVDState(
            U=torch.zeros(batch_size, feature_dim, self.max_rank, dtype=COMPUTE_DTYPE, device=device),
            s=torch.zeros(batch_size, self.max_rank, dtype=COMPUTE_DTYPE, device=device),
            **centring,
        )

    def _center_block(self, state: MeMSVDState, columns: torch.Tensor, mask: torch.Tensor | None):
        """Mean update of the incremental SVD (Ross et al. 2008): the block centred on its own mean plus one column
        ``sqrt(n_a n_b / (n_a + n_b)) (mean_b - mean_a)``; the scatter of the union is then exactly the old one plus
        the scatter of these columns. Returns (columns, new mean, new count)."""
        if state.mean is None or state.count is None:
            raise ValueError("center_memory=True needs a state from init_state() of a centring memory (it keeps the "
                             "running mean and count)")
        weight = columns.new_ones(columns.shape[0], columns.shape[2]) if mask is None else mask.to(columns.dtype)
        count_b = weight.sum(-1)
        mean_b = (columns * weight.unsqueeze(1)).sum(-1) / count_b.clamp_min(1).unsqueeze(-1)
        count_a = self.forgetting_factor * state.count
        total = count_a + count_b
        shift = (count_a * count_b / total.clamp_min(1e-12)).sqrt().unsqueeze(-1) * (mean_b - state.mean)
        centred = (columns - mean_b.unsqueeze(-1)) * weight.unsqueeze(1)
        mean = (count_a.unsqueeze(-1) * state.mean + count_b.unsqueeze(-1) * mean_b) / total.clamp_min(1e-12).unsqueeze(-1)
        mean = torch.where(total.unsqueeze(-1) > 0, mean, state.mean)
        return torch.cat([centred, shift.unsqueeze(-1)], dim=2), mean, total

    def update(self, state: MeMSVDState, block: torch.Tensor, mask: torch.Tensor | None = None) -> MeMSVDState:
        """Fold a block of new features ``(batch, m, d)`` (masked rows ignored) into the state.

        With ``A = [f U S, B]`` (B the new features as columns): ``P = U^T B``, ``R = B - U P`` (projected twice for
        orthogonality), ``R = Q R_r``, ``K = [[f S, P], [0, R_r]] = U' S' V'^T`` and ``U_new = [U, Q] U'``, truncated
        to ``max_rank``. Cost O(d (k + m)^2), independent of how many features came before.
        """
        if block.ndim != 3 or block.shape[0] != state.U.shape[0] or block.shape[2] != state.U.shape[1]:
            raise ValueError(f"block must have shape (batch={state.U.shape[0]}, m, d={state.U.shape[1]}), "
                             f"got {tuple(block.shape)}")
        if self.normalize_memory:
            block = block / block.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        columns = block.to(COMPUTE_DTYPE).transpose(1, 2)  # (batch, d, m)
        if mask is not None:
            columns = columns * mask.unsqueeze(1).to(columns.dtype)
        mean, count = state.mean, state.count
        if self.center_memory:
            columns, mean, count = self._center_block(state, columns, mask)
        U, s, f = state.U, state.s, self.forgetting_factor
        projection = U.transpose(1, 2) @ columns
        residual = columns - U @ projection
        correction = U.transpose(1, 2) @ residual  # second Gram-Schmidt pass keeps Q orthogonal to U
        projection, residual = projection + correction, residual - U @ correction
        Q, R = torch.linalg.qr(residual)
        k, m = s.shape[-1], columns.shape[-1]
        top = torch.cat([torch.diag_embed(f * s), projection], dim=2)
        bottom = torch.cat([R.new_zeros(R.shape[0], m, k), R], dim=2)
        small_U, new_s, _ = torch.linalg.svd(torch.cat([top, bottom], dim=1))
        new_U = torch.cat([U, Q], dim=2) @ small_U[..., : self.max_rank]
        new_U, new_s = _drop_small(new_U, new_s[..., : self.max_rank], self.rank_tolerance)
        new_state = MeMSVDState(new_U, new_s, state.num_updates + 1, mean, count)
        if self.reorthonormalize_every and new_state.num_updates % self.reorthonormalize_every == 0:
            new_state = self.reorthonormalize(new_state)
        return new_state

    def reorthonormalize(self, state: MeMSVDState) -> MeMSVDState:
        """Undo the drift of repeated ``[U, Q] U'`` products: ``U S = Q_u R_u``, ``R_u = U_r S' V^T``."""
        Q, R = torch.linalg.qr(state.U * state.s.unsqueeze(1))
        small_U, s, _ = torch.linalg.svd(R)
        U, s = _drop_small(Q @ small_U, s, self.rank_tolerance)
        return MeMSVDState(U, s, state.num_updates, state.mean, state.count)

    def stream(self, memory_features: torch.Tensor, memory_mask: torch.Tensor | None = None,
               block_size: int = 5) -> MeMSVDState:
        """Run the incremental SVD over a window in blocks of ``block_size`` features (e.g. one second each)."""
        batch, n, d = memory_features.shape
        state = self.init_state(batch, d, memory_features.device)
        for start in range(0, n, block_size):
            block_mask = None if memory_mask is None else memory_mask[:, start : start + block_size]
            state = self.update(state, memory_features[:, start : start + block_size], block_mask)
        return state

    def basis(self, state: MeMSVDState) -> tuple[torch.Tensor, torch.Tensor]:
        """The read-out basis ``U_c`` (batch, d, n_c) and ``s`` (batch, n_c) of a streaming state."""
        return self._top(state.U, state.s, self.num_components)

    # ------------------------------------------------------------------ read-out
    @staticmethod
    def project(basis, features: torch.Tensor, batch_index: torch.Tensor | None = None):
        """Project features ``(K, d)`` onto their sample's basis and reconstruct: returns ``(h_hat, c)``.

        ``basis`` is a ``MeMSVDState``, a ``(U_c, s)`` pair or ``U_c`` (batch, d, n_c); ``batch_index`` (K,) picks
        each feature's sample (default: feature i uses sample i). Computed in float64, returned in the input dtype.
        """
        if isinstance(basis, MeMSVDState):
            basis = basis.U
        elif isinstance(basis, tuple):
            basis = basis[0]
        if batch_index is None:
            batch_index = torch.arange(features.shape[0], device=features.device)
        U = basis[batch_index].to(COMPUTE_DTYPE)
        coefficients = (U.transpose(1, 2) @ features.to(COMPUTE_DTYPE).unsqueeze(-1)).squeeze(-1)
        reconstructed = (U @ coefficients.unsqueeze(-1)).squeeze(-1)
        return reconstructed.to(features.dtype), coefficients.to(features.dtype)


__all__ = ["MeMSVDMemory", "MeMSVDState"]
