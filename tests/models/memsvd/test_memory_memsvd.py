"""MeMSVD memory properties P1-P8 of the spec (section 7), in float64 on well-separated spectra."""

import pytest
import torch

from hfvid.models.memsvd import MeMSVDMemory

D, N = 64, 200


def separated(d=D, n=N, rank=None, seed=0, noise=1e-9):
    """d x n matrix with singular values 10, 9.9, ... (well separated) on random orthonormal bases."""
    g = torch.Generator().manual_seed(seed)
    rank = rank or min(d, n)
    left, _ = torch.linalg.qr(torch.randn(d, rank, generator=g, dtype=torch.float64))
    right, _ = torch.linalg.qr(torch.randn(n, rank, generator=g, dtype=torch.float64))
    spectrum = torch.linspace(10, 1, rank, dtype=torch.float64)
    return left @ torch.diag(spectrum) @ right.T + noise * torch.randn(d, n, generator=g, dtype=torch.float64)


def projector(U):
    return U @ U.transpose(-1, -2)


def stream_blocks(memory, M, seed=0):
    """Feed the columns of M in random blocks of 1-20 columns."""
    g = torch.Generator().manual_seed(seed)
    state, start, blocks = memory.init_state(1, M.shape[0]), 0, []
    while start < M.shape[1]:
        size = int(torch.randint(1, 21, (1,), generator=g))
        blocks.append(M[:, start : start + size])
        state = memory.update(state, blocks[-1].T[None])
        start += size
    return state, blocks


def test_p1_incremental_equals_batch():
    M = separated()
    state, _ = stream_blocks(MeMSVDMemory(num_components=16, max_rank=D), M)
    U, s, _ = torch.linalg.svd(M, full_matrices=False)
    torch.testing.assert_close(state.s[0], torch.linalg.svdvals(M), atol=1e-8, rtol=0)
    assert (projector(state.U[0, :, :16]) - projector(U[:, :16])).norm() < 1e-6


def test_p1_float32_features():
    M = separated()
    state, _ = stream_blocks(MeMSVDMemory(num_components=16, max_rank=D), M.float().double())
    assert (state.s[0] - torch.linalg.svdvals(M)).abs().max() < 1e-4


def test_p2_forgetting_factor_is_geometric_weighting():
    M, f = separated(), 0.9
    state, blocks = stream_blocks(MeMSVDMemory(num_components=16, max_rank=D, forgetting_factor=f), M)
    T = len(blocks)
    weighted = torch.cat([f ** (T - 1 - t) * b for t, b in enumerate(blocks)], dim=1)
    U, s, _ = torch.linalg.svd(weighted, full_matrices=False)
    torch.testing.assert_close(state.s[0], s[:D], atol=1e-8, rtol=0)
    assert (projector(state.U[0, :, :16]) - projector(U[:, :16])).norm() < 1e-6


@pytest.mark.parametrize("driver", ["gram", "svd"])
def test_p3_eckart_young(driver):
    M = separated(n=40)  # N < d: the Gram route takes eigh of the N x N matrix
    U, _ = MeMSVDMemory(num_components=8, max_rank=16, svd_driver=driver).from_bank(M.T[None])
    residual = (M - projector(U[0]) @ M).norm() ** 2
    sigma = torch.linalg.svdvals(M)
    torch.testing.assert_close(residual, (sigma[8:] ** 2).sum(), rtol=1e-8, atol=0)


def test_p3_truncated_incremental_equals_batch_when_rank_fits():
    M = separated(rank=10)
    state, _ = stream_blocks(MeMSVDMemory(num_components=8, max_rank=12), M)
    U, _, _ = torch.linalg.svd(M, full_matrices=False)
    assert (projector(state.U[0, :, :8]) - projector(U[:, :8])).norm() < 1e-6
    torch.testing.assert_close(state.s[0, :10], torch.linalg.svdvals(M)[:10], atol=1e-8, rtol=0)


def test_p4_projection_algebra():
    M = separated(rank=6, noise=0.0)
    memory = MeMSVDMemory(num_components=8, max_rank=8)
    basis = memory.from_bank(M.T[None])
    h = torch.randn(5, D, dtype=torch.float64)
    index = torch.zeros(5, dtype=torch.long)
    h_hat, _ = memory.project(basis, h, index)
    torch.testing.assert_close(memory.project(basis, h_hat, index)[0], h_hat)  # idempotent
    assert (h_hat.norm(dim=-1) <= h.norm(dim=-1) + 1e-12).all()  # never increases the norm
    inside = M @ torch.randn(N, 5, dtype=torch.float64)  # in span(M), n_c >= rank: exact
    torch.testing.assert_close(memory.project(basis, inside.T, index)[0], inside.T)
    orthogonal = h.T - projector(torch.linalg.svd(M, full_matrices=False)[0][:, :6]) @ h.T
    assert memory.project(basis, orthogonal.T, index)[0].abs().max() < 1e-10


def test_p5_sign_and_rotation_invariance():
    memory = MeMSVDMemory(num_components=8, max_rank=8)
    U, _ = memory.from_bank(separated().T[None])
    h = torch.randn(3, D, dtype=torch.float64)
    expected, _ = memory.project(U, h, torch.zeros(3, dtype=torch.long))
    flipped = U * torch.tensor([1, -1, 1, 1, -1, 1, 1, -1], dtype=torch.float64)
    rotation, _ = torch.linalg.qr(torch.randn(8, 8, dtype=torch.float64))
    for other in (flipped, U @ rotation):
        torch.testing.assert_close(memory.project(other, h, torch.zeros(3, dtype=torch.long))[0], expected)


@pytest.mark.parametrize("driver", ["gram", "svd"])
def test_p6_padding_invariance_batched(driver):
    memory = MeMSVDMemory(num_components=8, max_rank=16, svd_driver=driver)
    banks = [separated(n=30, seed=1).T, separated(n=50, seed=2).T]
    padded = torch.zeros(2, 70, D, dtype=torch.float64)
    mask = torch.zeros(2, 70, dtype=torch.bool)
    for i, bank in enumerate(banks):
        padded[i, : len(bank)], mask[i, : len(bank)] = bank, True
    padded[0, 40:] = 123.0  # garbage in masked slots must not matter
    U, _ = memory.from_bank(padded, mask)
    for i, bank in enumerate(banks):
        alone, _ = memory.from_bank(bank[None])
        assert (projector(U[i]) - projector(alone[0])).norm() < 1e-6


def test_p7_permutation_and_p8_scale_invariance():
    memory = MeMSVDMemory(num_components=8, max_rank=16)
    bank = separated().T[None]
    h = torch.randn(2, D, dtype=torch.float64)
    index = torch.zeros(2, dtype=torch.long)
    expected, _ = memory.project(memory.from_bank(bank), h, index)
    for other in (bank[:, torch.randperm(N)], 7.5 * bank, 1e-3 * bank):
        torch.testing.assert_close(memory.project(memory.from_bank(other), h, index)[0], expected)


def test_empty_memory_and_reorthonormalisation():
    memory = MeMSVDMemory(num_components=4, max_rank=8, reorthonormalize_every=3)
    U, s = memory.from_bank(torch.randn(1, 10, D), torch.zeros(1, 10, dtype=torch.bool))
    assert U.abs().max() == 0 and s.abs().max() == 0
    state = memory.init_state(1, D)
    for i in range(7):
        state = memory.update(state, torch.randn(1, 3, D, dtype=torch.float64))
    kept = state.U[0][:, state.s[0] > 0]
    torch.testing.assert_close(kept.T @ kept, torch.eye(kept.shape[1], dtype=torch.float64), atol=1e-10, rtol=0)
    with pytest.raises(ValueError, match="block must have shape"):
        memory.update(state, torch.randn(1, 3, D + 1))


def test_centred_incremental_equals_centred_batch_with_masks():
    """center_memory: the running-mean update (one mean-shift column per block) gives the batch mode's centred
    basis, with masked rows ignored by both (they were centred in batch mode only before)."""
    memory = MeMSVDMemory(num_components=8, max_rank=D, center_memory=True)
    banks = (separated(seed=3).T + 4.0)[None].repeat(2, 1, 1)  # an offset, so centring matters
    mask = torch.ones(2, N, dtype=torch.bool)
    mask[1, ::3] = False
    banks[1, ::3] = 99.0  # garbage in masked slots
    U_batch, s_batch = memory.from_bank(banks, mask)
    state = memory.stream(banks, mask, block_size=7)
    U_stream, s_stream = memory.basis(state)
    torch.testing.assert_close(s_stream, s_batch, atol=1e-8, rtol=0)
    for i in range(2):
        assert (projector(U_stream[i]) - projector(U_batch[i])).norm() < 1e-6
        valid = banks[i][mask[i]]
        torch.testing.assert_close(state.mean[i], valid.mean(0))
        assert state.count[i] == len(valid)
    uncentred = MeMSVDMemory(num_components=8, max_rank=D).from_bank(banks, mask)[0]
    assert (projector(uncentred[0]) - projector(U_batch[0])).norm() > 0.1  # the test can tell the two apart
