"""compute_max_train_steps: the epoch budget divides the loader by accumulation and by batches per step."""

from types import SimpleNamespace

from hfvid.training import compute_max_train_steps


def test_epoch_budget_counts_batches_per_step():
    args = SimpleNamespace(max_train_steps=None, num_train_epochs=3, gradient_accumulation_steps=2)
    loader = range(10)
    assert compute_max_train_steps(args, loader) == 3 * 5
    assert compute_max_train_steps(args, loader, batches_per_step=3) == 3 * 2  # ceil(10 / 6)
    args.max_train_steps = 7
    assert compute_max_train_steps(args, loader, batches_per_step=3) == 7
