"""BPL as a PEFT adapter on CLIP: spec section 7 properties, PEFT round trips, bad inputs, a CPU learning test."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from peft import PeftModel, get_peft_model
from safetensors.torch import load_file
from transformers import CLIPModel

import hfvid
from hfvid import BayesianPromptConfig, bayesian_prompt_classify, build_class_prompts, resolve_ctx_init
from hfvid.data.synthetic_images import shape_class_names, synthetic_shape_images, tiny_clip
from hfvid.models.bayesian_prompt import (
    find_bayesian_prompt_layer,
    gaussian_kl,
    mc_log_predictive,
    register_bayesian_prompt,
    sample_residuals,
)
from hfvid.models.bayesian_prompt.evaluation import BayesianPromptCollator

ROOT = Path(hfvid.__file__).resolve().parents[1]
NAMES = shape_class_names(4)


def make(variant="unconditional", hidden_size=32, save_base_to=None, **config_kwargs):
    """A tiny random CLIP, its processor, and a fresh BPL PeftModel on it (context from "a photo of a")."""
    clip, processor = tiny_clip(hidden_size=hidden_size)
    if save_base_to is not None:
        clip.save_pretrained(save_base_to)
    config = resolve_ctx_init(BayesianPromptConfig(variant=variant, **config_kwargs), processor.tokenizer)
    return get_peft_model(clip, config), processor


def prompts_for(processor, peft_model, names=NAMES):
    return build_class_prompts(processor.tokenizer, names, peft_model.peft_config["default"])


def pixels(batch, seed=0):
    return torch.rand(batch, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------------------------------------ the maths
def test_kl_closed_form():
    zero = torch.zeros(16)
    assert gaussian_kl(zero, zero).item() == 0.0
    mu, logvar = torch.randn(5, 16), torch.randn(5, 16)
    reference = torch.distributions.kl_divergence(
        torch.distributions.Normal(mu, (0.5 * logvar).exp()), torch.distributions.Normal(0.0, 1.0)
    )
    torch.testing.assert_close(gaussian_kl(mu, logvar), reference.mean(-1), atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(gaussian_kl(mu, logvar, reduction="sum"), reference.sum(-1), atol=1e-5, rtol=1e-6)
    assert (gaussian_kl(mu, logvar) >= 0).all()
    # a non-unit prior: KL is zero when the posterior equals it
    assert gaussian_kl(zero, torch.full((16,), 2 * torch.log(torch.tensor(0.5))), prior_std=0.5).abs().item() < 1e-6


def test_reparameterisation_statistics():
    mu, logvar = torch.tensor([0.5, -1.0, 2.0]), torch.tensor([0.0, -2.0, 1.0])
    samples = sample_residuals(mu, logvar, 20_000, torch.Generator().manual_seed(0))
    assert samples.shape == (20_000, 3)
    torch.testing.assert_close(samples.mean(0), mu, atol=0.03 * (0.5 * logvar).exp().max().item(), rtol=0)
    torch.testing.assert_close(samples.std(0), (0.5 * logvar).exp(), rtol=0.03, atol=0)
    batched = sample_residuals(torch.zeros(3, 4), torch.zeros(3, 4), 5)
    shared = sample_residuals(torch.zeros(3, 4), torch.zeros(3, 4), 5, shared_noise=True)
    assert batched.shape == shared.shape == (5, 3, 4)
    assert torch.equal(shared[:, 0], shared[:, 2]) and not torch.equal(batched[:, 0], batched[:, 2])


def test_mc_predictive_is_a_distribution():
    logits = torch.randn(6, 3, 5) * 4
    log_p = mc_log_predictive(logits)
    torch.testing.assert_close(torch.logsumexp(log_p, -1), torch.zeros(3), atol=1e-5, rtol=0)
    same = logits[:1].expand(6, -1, -1)
    torch.testing.assert_close(mc_log_predictive(same), logits[0].log_softmax(-1), atol=1e-6, rtol=0)


def test_logmeanexp_likelihood_is_at_least_the_elbo_term():
    torch.manual_seed(0)
    peft_model, processor = make(num_samples_train=6, logvar_init=0.5)
    prompts, labels = prompts_for(processor, peft_model), torch.tensor([0, 1, 2])
    peft_model.train()
    nll = {}
    for likelihood in ("logmeanexp", "elbo"):
        peft_model.peft_config["default"].likelihood = likelihood
        out = peft_model.classify(pixels(3), prompts["input_ids"], prompts["attention_mask"], labels=labels,
                                  generator=torch.Generator().manual_seed(1))
        nll[likelihood] = out.nll.item()
        torch.testing.assert_close(out.loss, out.nll + 1e-3 * out.kl)
    assert nll["logmeanexp"] <= nll["elbo"] + 1e-6 and nll["logmeanexp"] < nll["elbo"]


# ------------------------------------------------------------------------------------------------ the prompt
def test_exact_reduction_to_clip_with_the_init_context():
    """ctx = embeddings of "a photo of a", r = 0: text features equal plain CLIP's on the same ids."""
    peft_model, processor = make(variant="conditional")  # conditional: the fallback residual outside classify is 0
    prompts = prompts_for(processor, peft_model)
    with torch.no_grad():
        adapted = peft_model.base_model.model.get_text_features(**prompts).pooler_output
        with peft_model.disable_adapter():
            plain = peft_model.base_model.model.get_text_features(**prompts).pooler_output
    torch.testing.assert_close(adapted, plain, atol=1e-6, rtol=0)
    # and the classification path with a zero posterior mean gives CLIP's zero-shot probabilities
    peft_model2, _ = make(logvar_init=-30.0)
    with torch.no_grad():
        out = peft_model2.classify(pixels(2), prompts["input_ids"], prompts["attention_mask"], deterministic=True)
        with peft_model2.disable_adapter():
            zero_shot = peft_model2.classify(pixels(2), prompts["input_ids"], prompts["attention_mask"],
                                             deterministic=True)
    torch.testing.assert_close(out.logits, zero_shot.logits, atol=1e-5, rtol=0)


def test_only_context_positions_change_and_the_residual_is_shared():
    peft_model, processor = make(n_ctx=4)
    layer = find_bayesian_prompt_layer(peft_model)
    ids = prompts_for(processor, peft_model)["input_ids"].repeat(3, 1)  # 3 samples x 4 classes, sample-major
    residual = torch.randn(3, layer.token_dim).repeat_interleave(4, dim=0)
    with torch.no_grad(), layer.bpl_residual(residual):
        out = layer(ids)
    base = layer.get_base_layer()(ids)
    outside = torch.ones(ids.shape[1], dtype=torch.bool)
    outside[1:5] = False
    assert torch.equal(out[:, outside], base[:, outside])
    shift = out[:, 1:5] - layer.bpl_ctx["default"].detach()
    torch.testing.assert_close(shift, residual[:, None, :].expand(-1, 4, -1), atol=1e-6, rtol=0)
    assert layer._bpl_residual is None  # the residual is cleared after the block


def test_freezing_and_trainable_parameter_count():
    peft_model, processor = make(n_ctx=4)
    trainable = {n: p for n, p in peft_model.named_parameters() if p.requires_grad}
    assert trainable and all(".bpl_" in n for n in trainable)
    dim = 32
    assert sum(p.numel() for p in trainable.values()) == 4 * dim + dim + dim  # ctx + mu + logvar
    prompts = prompts_for(processor, peft_model)
    peft_model.train()
    peft_model.classify(pixels(2), prompts["input_ids"], prompts["attention_mask"], labels=torch.tensor([0, 3])).loss.backward()
    for name, param in peft_model.named_parameters():
        if param.requires_grad:
            assert param.grad is not None and param.grad.abs().sum() > 0, name
        else:
            assert param.grad is None, name
    conditional, _ = make(variant="conditional", n_ctx=4)
    hidden = 8  # projection 16 -> 8 -> 8 -> 32, twice
    expected = 4 * dim + 2 * ((16 * hidden + hidden) + (hidden * hidden + hidden) + (hidden * dim + dim))
    assert sum(p.numel() for p in conditional.parameters() if p.requires_grad) == expected


@pytest.mark.parametrize("deterministic", [True, False])
def test_conditional_variant_is_batch_invariant(deterministic):
    peft_model, processor = make(variant="conditional", num_samples_eval=3)
    peft_model.eval()
    prompts = prompts_for(processor, peft_model)
    images = pixels(4, seed=3)
    with torch.no_grad():
        for batch in (1, 3, 4):
            out = peft_model.classify(images[:batch], prompts["input_ids"], prompts["attention_mask"],
                                      deterministic=deterministic)
            samples = 1 if deterministic else 3
            assert out.text_embeds.shape[:3] == (samples, batch, 4)  # L * B * C prompt rows
            singles = torch.cat([peft_model.classify(images[i:i + 1], prompts["input_ids"], prompts["attention_mask"],
                                                     deterministic=deterministic).logits for i in range(batch)])
            torch.testing.assert_close(out.logits, singles, atol=1e-5, rtol=1e-5)


def test_sampling_reproducible_with_a_generator_and_seeded_eval():
    peft_model, processor = make(num_samples_eval=4)
    peft_model.eval()
    prompts = prompts_for(processor, peft_model)
    run = lambda seed: peft_model.classify(  # noqa: E731
        pixels(2), prompts["input_ids"], prompts["attention_mask"],
        generator=None if seed is None else torch.Generator().manual_seed(seed)).logits
    with torch.no_grad():
        assert torch.equal(run(1), run(1)) and not torch.equal(run(1), run(2))
        assert torch.equal(run(None), run(None))  # eval without a generator uses eval_seed


# ------------------------------------------------------------------------------------------------ PEFT round trips
def test_save_load_round_trip_through_peft(tmp_path):
    base = tmp_path / "base"
    peft_model, processor = make(num_samples_eval=3, save_base_to=base)
    prompts = prompts_for(processor, peft_model)
    with torch.no_grad():
        find_bayesian_prompt_layer(peft_model).bpl_mu["default"].normal_()  # a trained-looking adapter
    peft_model.eval()
    images = pixels(3)
    with torch.no_grad():
        expected = peft_model.classify(images, prompts["input_ids"], prompts["attention_mask"])
        expected_det = peft_model.classify(images, prompts["input_ids"], prompts["attention_mask"], deterministic=True)
    peft_model.peft_config["default"].base_model_name_or_path = str(base)
    peft_model.save_pretrained(tmp_path / "adapter")
    files = sorted(p.name for p in (tmp_path / "adapter").iterdir())
    assert {"adapter_config.json", "adapter_model.safetensors"} <= set(files)
    tensors = load_file(tmp_path / "adapter" / "adapter_model.safetensors")
    assert tensors and all(".bpl_" in key for key in tensors), list(tensors)
    assert (tmp_path / "adapter" / "adapter_model.safetensors").stat().st_size < 4096
    saved = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert saved["peft_type"] == "HFVID_BAYESIAN_PROMPT" and saved["token_dim"] == 32

    reloaded = PeftModel.from_pretrained(CLIPModel.from_pretrained(base), tmp_path / "adapter").eval()
    assert type(reloaded.peft_config["default"]) is BayesianPromptConfig
    with torch.no_grad():
        assert torch.equal(reloaded.classify(images, prompts["input_ids"], prompts["attention_mask"],
                                             deterministic=True).logits, expected_det.logits)
        assert torch.equal(reloaded.classify(images, prompts["input_ids"], prompts["attention_mask"]).logits,
                           expected.logits)
    # transformers' own adapter loading (what pipeline() uses): the CLIP comes back with the adapter injected
    injected = CLIPModel.from_pretrained(tmp_path / "adapter").eval()
    with torch.no_grad():
        assert torch.equal(bayesian_prompt_classify(injected, images, prompts["input_ids"], prompts["attention_mask"],
                                                    deterministic=True).logits, expected_det.logits)

    # a fresh process: `import hfvid` alone makes PEFT know the adapter type
    script = ("import sys, hfvid; from peft import PeftModel; from transformers import CLIPModel; "
              "m = PeftModel.from_pretrained(CLIPModel.from_pretrained(sys.argv[1]), sys.argv[2]); "
              "print(type(m.peft_config['default']).__name__)")
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", script, str(base), str(tmp_path / "adapter")],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "BayesianPromptConfig"


def test_auto_peft_model_loads_an_adapter_folder_with_its_processor(tmp_path):
    """Issue 15: with a tokenizer in the adapter folder (as the training script saves it, for pipeline()),
    `AutoPeftModel.from_pretrained` asks the base CLIPModel for `get_input_embeddings`, which transformers does not
    give CLIPModel; `import hfvid` supplies it (CLIP's text token embedding), so the adapter loads unchanged."""
    from peft import AutoPeftModel

    base = tmp_path / "base"
    peft_model, processor = make(num_samples_eval=3, save_base_to=base)
    with torch.no_grad():
        find_bayesian_prompt_layer(peft_model).bpl_mu["default"].normal_()
    peft_model.eval()
    peft_model.peft_config["default"].base_model_name_or_path = str(base)
    peft_model.save_pretrained(tmp_path / "adapter")
    processor.save_pretrained(tmp_path / "adapter")
    assert (tmp_path / "adapter" / "tokenizer_config.json").is_file()
    prompts, images = prompts_for(processor, peft_model), pixels(2)
    loaded = AutoPeftModel.from_pretrained(tmp_path / "adapter").eval()
    assert type(loaded.peft_config["default"]) is BayesianPromptConfig
    with torch.no_grad():
        for deterministic in (True, False):
            assert torch.equal(loaded.classify(images, prompts["input_ids"], prompts["attention_mask"],
                                               deterministic=deterministic).logits,
                               peft_model.classify(images, prompts["input_ids"], prompts["attention_mask"],
                                                   deterministic=deterministic).logits)
    clip = CLIPModel.from_pretrained(base)
    assert clip.get_input_embeddings() is clip.text_model.embeddings.token_embedding


def test_adapter_for_another_base_model_is_refused(tmp_path):
    peft_model, _ = make(hidden_size=32)
    peft_model.save_pretrained(tmp_path / "adapter")
    other, _ = tiny_clip(hidden_size=48)
    with pytest.raises(ValueError, match="token_dim=32"):
        PeftModel.from_pretrained(other, tmp_path / "adapter")


def test_registration_is_idempotent_and_checks_peft(monkeypatch):
    import peft.mapping

    register_bayesian_prompt()
    register_bayesian_prompt()
    assert peft.mapping.PEFT_TYPE_TO_CONFIG_MAPPING["HFVID_BAYESIAN_PROMPT"] is BayesianPromptConfig
    assert peft.mapping.PEFT_TYPE_TO_PREFIX_MAPPING["HFVID_BAYESIAN_PROMPT"] == "bpl_"
    monkeypatch.delattr(peft.mapping, "PEFT_TYPE_TO_TUNER_MAPPING")
    with pytest.raises(RuntimeError, match="PEFT_TYPE_TO_TUNER_MAPPING.*tested with peft"):
        register_bayesian_prompt()


def test_merge_is_refused():
    peft_model, _ = make()
    with pytest.raises(ValueError, match="cannot be merged"):
        peft_model.merge_and_unload()


# ------------------------------------------------------------------------------------------------ bad inputs
def test_bad_inputs_raise_clear_errors():
    peft_model, processor = make()
    prompts = prompts_for(processor, peft_model)
    ids, mask = prompts["input_ids"], prompts["attention_mask"]
    with pytest.raises(ValueError, match="empty"):
        build_class_prompts(processor.tokenizer, [], peft_model.peft_config["default"])
    with pytest.raises(ValueError, match="distinct.*red circle"):
        build_class_prompts(processor.tokenizer, ["red circle", "blue square", "red_circle"],
                            peft_model.peft_config["default"])
    with pytest.raises(ValueError, match="pixel_values"):
        peft_model.classify(torch.rand(2, 3, 16, 16), ids, mask)
    with pytest.raises(ValueError, match="pixel_values"):
        peft_model.classify(torch.rand(3, 32, 32), ids, mask)
    with pytest.raises(ValueError, match="labels"):
        peft_model.classify(pixels(2), ids, mask, labels=torch.tensor([0, 9]))
    with pytest.raises(ValueError, match="class_input_ids"):
        peft_model.classify(pixels(2), ids[:0], mask[:0])
    with pytest.raises(ValueError, match="n_ctx"):
        build_class_prompts(processor.tokenizer, NAMES, BayesianPromptConfig(n_ctx=2))


@pytest.mark.parametrize(
    "kwargs, field",
    [({"n_ctx": 0}, "n_ctx"), ({"variant": "both"}, "variant"), ({"likelihood": "max"}, "likelihood"),
     ({"kl_weight": -1.0}, "kl_weight"), ({"logvar_init": "zeros"}, "logvar_init"),
     ({"num_samples_eval": 0}, "num_samples_eval"), ({"ctx_init_token_ids": [1, 2]}, "ctx_init_token_ids"),
     ({"prior_std": 0.0}, "prior_std")],
)
def test_config_validation_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        BayesianPromptConfig(**kwargs)


# ------------------------------------------------------------------------------------------------ learning
def test_prompt_learning_beats_the_hand_written_prompt():
    """Tiny random frozen CLIP, 4 classes of coloured shapes: BPL raises held-out base accuracy over zero-shot."""
    torch.manual_seed(0)
    peft_model, processor = make(n_ctx=4, num_samples_train=4, num_samples_eval=4, logvar_init=-6.0)
    prompts = prompts_for(processor, peft_model)
    collate = BayesianPromptCollator(processor.image_processor)
    train = collate(list(synthetic_shape_images(NAMES, 16, seed=0)))
    test = collate(list(synthetic_shape_images(NAMES, 16, seed=1)))

    def accuracy(zero_shot=False):
        peft_model.eval()
        with torch.no_grad():
            if zero_shot:
                with peft_model.disable_adapter():
                    out = peft_model.classify(test["pixel_values"], prompts["input_ids"], prompts["attention_mask"],
                                              deterministic=True)
            else:
                out = peft_model.classify(test["pixel_values"], prompts["input_ids"], prompts["attention_mask"])
        peft_model.train()
        return (out.logits.argmax(1) == test["labels"]).float().mean().item()

    zero_shot = accuracy(zero_shot=True)
    optimizer = torch.optim.Adam([p for p in peft_model.parameters() if p.requires_grad], lr=5e-2)
    order = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(150):
        batch = torch.randint(0, len(train["labels"]), (16,), generator=order)
        out = peft_model.classify(train["pixel_values"][batch], prompts["input_ids"], prompts["attention_mask"],
                                  labels=train["labels"][batch])
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        losses.append(out.nll.item())
    learned = accuracy()
    print(f"zero-shot {zero_shot:.3f} -> learned {learned:.3f}; nll {losses[0]:.3f} -> {losses[-1]:.3f}")
    assert sum(losses[-20:]) / 20 < 0.85 * sum(losses[:10]) / 10, (losses[:10], losses[-20:])
    assert learned >= zero_shot + 0.2, (zero_shot, learned)


def test_evaluation_harness_base_to_new_and_cross_dataset():
    from hfvid.models.bayesian_prompt.evaluation import evaluate_base_to_new, evaluate_cross_dataset

    peft_model, processor = make(num_samples_eval=2)
    table = synthetic_shape_images(shape_class_names(6), 2, seed=0)
    result = evaluate_base_to_new(peft_model, processor, table, batch_size=4)
    assert set(result) == {"acc_base", "acc_new", "harmonic_mean"}
    assert all(0 <= v <= 100 for v in result.values())
    other = synthetic_shape_images(shape_class_names(12)[6:], 1, seed=1)  # another "dataset", its own classes
    transfer = evaluate_cross_dataset(peft_model, processor, {"a": table, "b": other}, batch_size=8)
    assert set(transfer) == {"a", "b", "average"} and transfer["average"] == (transfer["a"] + transfer["b"]) / 2
