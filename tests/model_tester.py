"""Conformance checks every hfvid model's tests run with a tiny config (ARCHITECTURE.md section 7).

Usage::

    tester = ModelTester(MyModel, tiny_config, make_inputs, make_labels)
    tester.run_all(tmp_path, bad_inputs=[({"pixel_values": torch.rand(1, 3, 8, 8)}, "pixel_values")])

``make_inputs(batch_size, seed)`` returns the forward kwargs of a batch (every tensor batch-first);
``make_labels(inputs)`` returns the extra kwargs that make the model return a ``loss`` (``None``: the label
checks are skipped). Every check raises ``AssertionError`` with a message saying what broke.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

import hfvid  # noqa: F401  (registers the Auto classes)
from hfvid.registration import METHODS, load_object

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
REPO_ROOT = Path(hfvid.__file__).resolve().parent.parent


def _flatten(value, prefix: str) -> dict[str, torch.Tensor]:
    """Output value (tensor or nested tuple of tensors) -> {name: tensor}."""
    if isinstance(value, (tuple, list)):
        out = {}
        for i, item in enumerate(value):
            out.update(_flatten(item, f"{prefix}[{i}]"))
        return out
    return {prefix: value}


def _slice_batch(inputs: dict, start: int, stop: int, batch_size: int) -> dict:
    """Rows ``start:stop`` of every batch-first tensor; other values are passed through."""
    return {
        k: v[start:stop] if isinstance(v, torch.Tensor) and v.ndim and v.shape[0] == batch_size else v
        for k, v in inputs.items()
    }


class ModelTester:
    """Common checks for one model class with one (tiny) config."""

    def __init__(
        self,
        model_class,
        config,
        make_inputs: Callable[[int, int], dict],
        make_labels: Callable[[dict], dict] | None = None,
        output_keys: Iterable[str] = ("landmarks",),
        atol: float = 1e-5,
        rtol: float = 1e-5,
        batch_size: int = 3,
    ):
        self.model_class = model_class
        self.config = config
        self.make_inputs = make_inputs
        self.make_labels = make_labels
        self.output_keys = tuple(output_keys)
        self.atol, self.rtol = atol, rtol
        self.batch_size = batch_size

    # ------------------------------------------------------------------ helpers
    @property
    def auto_class_name(self) -> str:
        """The transformers Auto class this model is registered with in ``hfvid.registration``."""
        for method in METHODS:
            for auto_name, path in method.models.items():
                if load_object(path) is self.model_class:
                    return auto_name
        raise AssertionError(f"{self.model_class.__name__} is not registered in hfvid.registration.METHODS")

    def new_model(self, seed: int = 0):
        torch.manual_seed(seed)
        return self.model_class(self.config)

    def outputs(self, model, inputs: dict) -> dict[str, torch.Tensor]:
        """{name: tensor} of ``output_keys`` for a no-grad forward pass."""
        with torch.no_grad():
            out = model(**inputs)
        flat = {}
        for key in self.output_keys:
            value = getattr(out, key, None)
            assert value is not None, f"{type(out).__name__}.{key} is None (expected an output tensor)"
            flat.update(_flatten(value, key))
        return flat

    def assert_same_outputs(self, expected: dict, actual: dict, what: str, exact: bool = False) -> None:
        """Element-wise ``|a - b| <= atol + rtol * |a|`` (``exact``: bit-identical)."""
        atol, rtol = (0.0, 0.0) if exact else (self.atol, self.rtol)
        assert expected.keys() == actual.keys(), f"{what}: output keys differ: {expected.keys()} vs {actual.keys()}"
        for name in expected:
            a, b = expected[name], actual[name]
            assert a.shape == b.shape, f"{what}: {name} shape {tuple(a.shape)} != {tuple(b.shape)}"
            diff = (a.double() - b.double()).abs()
            assert (diff <= atol + rtol * a.double().abs()).all(), (
                f"{what}: {name} differs by up to {diff.max().item():.3g} (atol {atol:g}, rtol {rtol:g})"
            )

    def _loss(self, model, inputs: dict) -> torch.Tensor:
        loss = model(**inputs, **self.make_labels(inputs)).loss
        assert loss is not None, f"{self.model_class.__name__} returned loss=None although labels were given"
        assert loss.ndim == 0, f"loss must be a scalar, got shape {tuple(loss.shape)}"
        assert torch.isfinite(loss), f"loss is not finite: {loss.item()}"
        return loss

    # ------------------------------------------------------------------ checks
    def check_save_load_round_trip(self, tmp_path) -> None:
        """save_pretrained -> Auto class from_pretrained: same class, config and outputs; safetensors only."""
        import transformers

        model = self.new_model().eval()
        inputs = self.make_inputs(2, 0)
        expected = self.outputs(model, inputs)
        path = Path(tmp_path) / "round_trip"
        model.save_pretrained(path)
        files = sorted(p.name for p in path.iterdir())
        assert "model.safetensors" in files, f"save_pretrained wrote no model.safetensors: {files}"
        pickles = [f for f in files if f.endswith(PICKLE_SUFFIXES)]
        assert not pickles, f"save_pretrained wrote pickle files: {pickles}"

        config = transformers.AutoConfig.from_pretrained(path)
        assert type(config) is type(self.config), f"AutoConfig gave {type(config).__name__}"
        ignore = {"transformers_version", "_name_or_path", "architectures", "dtype", "torch_dtype"}
        saved = {k: v for k, v in model.config.to_dict().items() if k not in ignore}
        loaded = {k: v for k, v in config.to_dict().items() if k not in ignore}
        changed = {k: (saved.get(k), loaded.get(k)) for k in saved.keys() | loaded.keys() if saved.get(k) != loaded.get(k)}
        assert not changed, f"config changed in the round trip (saved, loaded): {changed}"

        auto = getattr(transformers, self.auto_class_name)
        reloaded = auto.from_pretrained(path).eval()
        assert type(reloaded) is self.model_class, f"{auto.__name__} gave {type(reloaded).__name__}"
        self.assert_same_outputs(expected, self.outputs(reloaded, inputs), "after save/load", exact=True)

    def check_offline_from_pretrained(self, tmp_path) -> None:
        """A fresh ``HF_HUB_OFFLINE=1`` process loads the saved dir with the Auto class and reproduces the outputs."""
        from safetensors.torch import load_file, save_file

        model = self.new_model().eval()
        tmp_path = Path(tmp_path)
        model.save_pretrained(tmp_path / "offline")
        inputs = {k: v.contiguous() for k, v in self.make_inputs(2, 0).items() if isinstance(v, torch.Tensor)}
        save_file(inputs, str(tmp_path / "inputs.safetensors"))
        script = textwrap.dedent(
            f"""
            import json, sys, torch, transformers, hfvid
            from safetensors.torch import load_file, save_file
            model = transformers.{self.auto_class_name}.from_pretrained(sys.argv[1]).eval()
            inputs = load_file(sys.argv[2])
            with torch.no_grad():
                out = model(**inputs)
            keys = {list(self.output_keys)!r}
            save_file({{k: getattr(out, k).contiguous() for k in keys if torch.is_tensor(getattr(out, k))}}, sys.argv[3])
            print(json.dumps({{"class": type(model).__name__}}))
            """
        )
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        result = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / "offline"), str(tmp_path / "inputs.safetensors"),
             str(tmp_path / "outputs.safetensors")],
            capture_output=True, text=True, env=env, timeout=300,
        )
        assert result.returncode == 0, f"offline from_pretrained failed:\n{result.stderr[-3000:]}"
        reported = json.loads(result.stdout.strip().splitlines()[-1])
        assert reported["class"] == self.model_class.__name__, f"offline load gave {reported['class']}"
        actual = load_file(str(tmp_path / "outputs.safetensors"))
        expected = {k: v for k, v in self.outputs(model, inputs).items() if k in actual}
        assert expected, f"none of {self.output_keys} is a tensor output; nothing to compare"
        self.assert_same_outputs(expected, actual, "offline subprocess")

    def check_batch_consistency(self) -> None:
        """Each item of a batch of N gives the outputs it gives alone (eval mode)."""
        model = self.new_model().eval()
        n = self.batch_size
        inputs = self.make_inputs(n, 1)
        batched = self.outputs(model, inputs)
        for i in range(n):
            single = self.outputs(model, _slice_batch(inputs, i, i + 1, n))
            rows = {k: v[i : i + 1] for k, v in batched.items()}
            self.assert_same_outputs(rows, single, f"batch item {i} vs batch of 1")

    def check_eval_determinism(self) -> None:
        """Two eval forward passes on the same inputs are bit-identical."""
        model = self.new_model().eval()
        inputs = self.make_inputs(2, 2)
        self.assert_same_outputs(self.outputs(model, inputs), self.outputs(model, inputs), "eval repeat", exact=True)

    def check_gradients_reach_all_parameters(self) -> None:
        """loss.backward() gives every trainable parameter a finite, non-zero gradient."""
        model = self.new_model().train()
        self._loss(model, self.make_inputs(2, 3)).backward()
        missing, bad, zero = [], [], []
        for name, param in model.named_parameters():
            if not param.requires_grad:
                continue
            if param.grad is None:
                missing.append(name)
            elif not torch.isfinite(param.grad).all():
                bad.append(name)
            elif not param.grad.any():
                zero.append(name)
        assert not (missing or bad or zero), f"gradients: none for {missing}, non-finite for {bad}, all-zero for {zero}"

    def check_loss_decreases(self, steps: int = 5, lr: float = 1e-3) -> None:
        """A few AdamW steps on one fixed batch lower a finite loss."""
        model = self.new_model().train()
        inputs = self.make_inputs(2, 4)
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
        losses = []
        for _ in range(steps):
            loss = self._loss(model, inputs)
            losses.append(loss.item())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        final = self._loss(model, inputs).item()
        assert final < losses[0], f"loss did not decrease in {steps} AdamW steps (lr {lr}): {losses} -> {final}"

    def check_bad_inputs(self, bad_inputs) -> None:
        """Each ``(inputs, fragment)`` pair raises ``ValueError`` whose message contains ``fragment``."""
        model = self.new_model().eval()
        for inputs, fragment in bad_inputs:
            try:
                with torch.no_grad():
                    model(**inputs)
            except ValueError as error:
                assert fragment in str(error), f"ValueError {str(error)!r} does not mention {fragment!r}"
            except Exception as error:  # noqa: BLE001 - the point is to say what was raised instead
                raise AssertionError(f"expected ValueError mentioning {fragment!r}, got {error!r}") from error
            else:
                raise AssertionError(f"no ValueError for bad inputs (expected one mentioning {fragment!r})")

    def check_no_uninitialized_weights(self, tmp_path) -> None:
        """Fresh weights are finite and moderate; from_pretrained restores every parameter and buffer exactly."""
        model = self.new_model()
        state = dict(model.named_parameters()) | dict(model.named_buffers())
        for name, value in state.items():
            if value.is_floating_point():
                assert torch.isfinite(value).all(), f"freshly built {name} has NaN/inf"
                assert value.abs().max() < 1e3, f"freshly built {name} has |value| {value.abs().max():.3g} >= 1e3"
        path = Path(tmp_path) / "init_check"
        model.save_pretrained(path)
        loaded, info = self.model_class.from_pretrained(path, output_loading_info=True)
        problems = {k: v for k, v in info.items() if v and k != "error_msgs"} | (
            {"error_msgs": info["error_msgs"]} if info.get("error_msgs") else {}
        )
        assert not problems, f"from_pretrained loading info: {problems}"
        loaded_state = dict(loaded.named_parameters()) | dict(loaded.named_buffers())
        assert loaded_state.keys() == state.keys(), f"parameter/buffer names differ: {loaded_state.keys() ^ state.keys()}"
        differ = [name for name, value in state.items() if not torch.equal(value, loaded_state[name])]
        assert not differ, f"from_pretrained did not restore (uninitialised after the meta-device load?): {differ}"

    def check_config_class(self) -> None:
        """``config_class`` (set by the ``config: X`` annotation) is the tested config's class."""
        assert self.model_class.config_class is type(self.config), (
            f"{self.model_class.__name__}.config_class is {self.model_class.config_class}, expected {type(self.config)}"
        )

    def check_return_tuple(self) -> None:
        """``return_dict=False`` gives a plain tuple equal to the ModelOutput's ``to_tuple()`` (can_return_tuple)."""
        model = self.new_model().eval()
        with torch.no_grad():
            output = model(**self.make_inputs(2, 5))
            as_tuple = model(**self.make_inputs(2, 5), return_dict=False)
        assert type(as_tuple) is tuple, f"return_dict=False gave {type(as_tuple).__name__}, expected tuple"
        expected = output.to_tuple()
        assert len(as_tuple) == len(expected), f"return_dict=False gave {len(as_tuple)} items, to_tuple() {len(expected)}"
        for i, (a, b) in enumerate(zip(expected, as_tuple)):
            a, b = _flatten(a, f"[{i}]"), _flatten(b, f"[{i}]")
            others = {k for k, v in a.items() if not torch.is_tensor(v)}
            assert all(a[k] == b.get(k) for k in others), f"return_dict=False: non-tensor items {others} differ"
            self.assert_same_outputs({k: a[k] for k in a.keys() - others}, {k: b[k] for k in b.keys() - others},
                                     "return_dict=False", exact=True)

    def check_unknown_kwarg_raises(self, name: str = "hfvid_unknown_argument") -> None:
        """An unknown forward keyword raises ``TypeError`` naming it (it must not vanish into ``**kwargs``)."""
        model = self.new_model().eval()
        try:
            with torch.no_grad():
                model(**self.make_inputs(1, 0), **{name: True})
        except TypeError as error:
            assert name in str(error), f"TypeError {str(error)!r} does not name the unknown keyword {name!r}"
        else:
            raise AssertionError(f"{self.model_class.__name__}.forward accepted the unknown keyword {name!r}")

    def check_gradient_checkpointing(self) -> None:
        """With ``supports_gradient_checkpointing``: training with activation checkpointing recomputes its
        GradientCheckpointingLayer blocks and gives the same loss, gradients and buffers (BatchNorm running
        statistics) as without (skipped otherwise)."""
        if not self.model_class.supports_gradient_checkpointing:
            return
        from transformers.modeling_layers import GradientCheckpointingLayer

        def loss_and_grads(checkpointing: bool):
            model = self.new_model().train()
            calls = []
            if checkpointing:
                model.activation_checkpointing_enable()
                layers = [m for m in model.modules() if isinstance(m, GradientCheckpointingLayer)]
                assert layers, f"{self.model_class.__name__} declares checkpointing but has no GradientCheckpointingLayer"
                for layer in layers:
                    inner = layer._gradient_checkpointing_func
                    layer._gradient_checkpointing_func = lambda *a, _f=inner, **k: calls.append(1) or _f(*a, **k)
            inputs = self.make_inputs(2, 6)
            torch.manual_seed(7)
            if self.make_labels is not None:
                loss = self._loss(model, inputs)
            else:
                loss = sum(value.float().pow(2).mean() for value in self.outputs_with_grad(model, inputs).values())
            loss.backward()
            if checkpointing:
                assert calls, "activation checkpointing was enabled but no layer was checkpointed in training"
            grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
            return {"loss": loss.detach()}, grads, {n: b.clone() for n, b in model.named_buffers()}

        loss, grads, buffers = loss_and_grads(False)
        loss_ckpt, grads_ckpt, buffers_ckpt = loss_and_grads(True)
        self.assert_same_outputs(loss, loss_ckpt, "loss with activation checkpointing")
        self.assert_same_outputs(grads, grads_ckpt, "gradients with activation checkpointing")
        # e.g. BatchNorm running statistics: the backward recomputation must not update them a second time
        self.assert_same_outputs(buffers, buffers_ckpt, "buffers after a step with activation checkpointing")

    def outputs_with_grad(self, model, inputs: dict) -> dict[str, torch.Tensor]:
        """{name: tensor} of the floating-point ``output_keys`` of a forward pass that keeps the graph."""
        out = model(**inputs)
        flat = {}
        for key in self.output_keys:
            flat.update(_flatten(getattr(out, key), key))
        return {k: v for k, v in flat.items() if torch.is_tensor(v) and v.is_floating_point() and v.requires_grad}

    def check_conformance(self) -> None:
        """The issue-18 contract checks: config_class, return_dict=False, unknown kwargs, gradient checkpointing."""
        self.check_config_class()
        self.check_return_tuple()
        self.check_unknown_kwarg_raises()
        self.check_gradient_checkpointing()

    def run_all(self, tmp_path, bad_inputs=(), offline: bool = True) -> None:
        """Every check; the label checks only with ``make_labels``, the subprocess one only with ``offline``."""
        tmp_path = Path(tmp_path)
        self.check_conformance()
        self.check_save_load_round_trip(tmp_path / "save_load")
        if offline:
            self.check_offline_from_pretrained(tmp_path / "offline")
        self.check_batch_consistency()
        self.check_eval_determinism()
        if self.make_labels is not None:
            self.check_gradients_reach_all_parameters()
            self.check_loss_decreases()
        self.check_bad_inputs(bad_inputs)
        self.check_no_uninitialized_weights(tmp_path / "init")


__all__ = ["ModelTester"]
