"""Contrastive AU `global_negatives`: a 2-process CPU (gloo) run equals one process on the concatenated batch.

Each rank computes InfoNCE for its own rows against the targets gathered from both ranks (differentiable
all-gather), so with ``L = mean over all rows`` of the single process on the whole batch:

* loss: ``mean_r loss_r = L`` (every ``loss_r`` is a mean over the same number of rows);
* inputs: the all-gather backward sums over ranks the gradients every rank's loss sends to rank r's targets, so rank r
  receives ``sum_s d loss_s / d x_r = W * dL/dx_r`` (W = world size);
* parameters: DDP averages ``g_r = sum_s d loss_s / d theta`` (through rank r's rows) over ranks:
  ``(1/W) sum_r g_r = (1/W) d(sum_s loss_s)/d theta = dL/d theta`` -- the single-process gradient, unscaled.
"""

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from hfvid import ContrastiveAUConfig, ContrastiveAUForPreTraining

BACKBONE = {"embedding_size": 8, "hidden_sizes": [16], "depths": [1], "layer_type": "basic"}
TINY = dict(image_size=32, backbone_config=BACKBONE, temporal_hidden_size=16, embedding_dim=8,
            projection_hidden_size=16, num_aus=3, au_names=["AU01", "AU06", "AU12"])
WORLD_SIZE, LOCAL_BATCH = 2, 2


def make_model(global_negatives: bool, state_dict=None) -> ContrastiveAUForPreTraining:
    torch.manual_seed(0)
    model = ContrastiveAUForPreTraining(ContrastiveAUConfig(**TINY, global_negatives=global_negatives))
    if state_dict is not None:
        model.load_state_dict(state_dict)
    # float64: the comparison then sees the maths, not float32 summation-order noise; eval(): BatchNorm on running
    # statistics, so a local batch does not change the normalisation
    return model.double().eval()


def make_pixels(config) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.randn(WORLD_SIZE * LOCAL_BATCH, config.clip_length, 3, 32, 32, generator=g, dtype=torch.float64)


def loss_and_grads(model, pixel_values):
    pixel_values = pixel_values.clone().requires_grad_(True)
    out = model(pixel_values=pixel_values)
    out.loss.backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return out, pixel_values.grad, grads


def _worker(rank, port, state_dict, pixels, result_dir):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD_SIZE)
    try:
        model = make_model(True, state_dict)
        local = pixels[rank * LOCAL_BATCH : (rank + 1) * LOCAL_BATCH]
        out, pixel_grad, grads = loss_and_grads(model, local)
        for grad in grads.values():  # what DDP does: average the parameter gradients over ranks
            dist.all_reduce(grad)
            grad /= WORLD_SIZE
        torch.save({"loss": out.loss.detach(), "logits_shape": torch.tensor(out.logits.shape),
                    "pixel_grad": pixel_grad, "grads": grads}, os.path.join(result_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_global_negatives_match_single_process(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    reference = make_model(False)
    state_dict = {k: v.clone() for k, v in reference.state_dict().items()}
    pixels = make_pixels(reference.config)
    mp.spawn(_worker, args=(free_port(), state_dict, pixels, str(tmp_path)), nprocs=WORLD_SIZE, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD_SIZE)]

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        full, full_pixel_grad, full_grads = loss_and_grads(reference, pixels)
        local_loss = reference(pixel_values=pixels[:LOCAL_BATCH]).loss  # per-device negatives only
    finally:
        torch.set_num_threads(threads)

    m = LOCAL_BATCH * reference.config.num_predicted_steps
    assert [r["logits_shape"].tolist() for r in ranks] == [[m, WORLD_SIZE * m]] * WORLD_SIZE
    mean_loss = torch.stack([r["loss"] for r in ranks]).mean()
    torch.testing.assert_close(mean_loss, full.loss.detach(), rtol=0, atol=1e-6)
    assert abs(ranks[0]["loss"].item() - local_loss.item()) > 1e-3  # the gathered negatives do change the loss
    for rank, result in enumerate(ranks):
        expected = full_pixel_grad[rank * LOCAL_BATCH : (rank + 1) * LOCAL_BATCH] * WORLD_SIZE
        torch.testing.assert_close(result["pixel_grad"], expected, rtol=1e-9, atol=1e-12)
        assert result["grads"].keys() == full_grads.keys()
        for name, grad in result["grads"].items():
            torch.testing.assert_close(grad, full_grads[name], rtol=1e-9, atol=1e-12, msg=lambda text, name=name: f"{name}: {text}")
    assert full_pixel_grad.abs().max() > 1e-6  # the comparison is not between zeros


def test_global_negatives_without_process_group_is_local():
    assert not dist.is_initialized()
    plain, gathered = make_model(False), make_model(True)
    gathered.load_state_dict(plain.state_dict())
    pixels = make_pixels(plain.config)[:LOCAL_BATCH]
    out_plain, pixel_grad_plain, grads_plain = loss_and_grads(plain, pixels)
    out_gathered, pixel_grad_gathered, grads_gathered = loss_and_grads(gathered, pixels)
    assert torch.equal(out_plain.loss, out_gathered.loss) and torch.equal(out_plain.logits, out_gathered.logits)
    assert torch.equal(pixel_grad_plain, pixel_grad_gathered)
    assert all(torch.equal(grads_plain[name], grads_gathered[name]) for name in grads_plain)


def test_info_nce_positive_offset_validation():
    from hfvid.models.contrastive_au import info_nce

    predicted, targets = torch.randn(3, 4), torch.randn(6, 4)
    loss, logits, _ = info_nce(predicted, targets, 0.1, positive_offset=3)
    assert logits.shape == (3, 6)
    torch.testing.assert_close(loss, torch.nn.functional.cross_entropy(predicted @ targets.T / 0.1,
                                                                       torch.arange(3, 6)))
    with pytest.raises(ValueError, match="positive_offset"):
        info_nce(predicted, targets, 0.1, positive_offset=4)
    with pytest.raises(ValueError, match="predicted and targets"):
        info_nce(predicted, torch.randn(6, 5), 0.1)


def test_pretrain_script_flag_sets_config(tmp_path):
    from hfvid.quickstart import load_training_script

    script = load_training_script("pretrain_contrastive_au")
    argv = ["--dataset_name", "synthetic", "--cpu", "--output_dir", str(tmp_path)]
    assert script.build_model(script.parse_args([*argv, "--global_negatives"]))[0].config.global_negatives is True
    assert script.build_model(script.parse_args(argv))[0].config.global_negatives is False
