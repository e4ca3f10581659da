"""`hfvid-zero-shot-image-classification`: images + candidate labels -> labels sorted by a prompt-learned CLIP.

Works with a CLIP model carrying a BayesianPrompt adapter: an adapter folder (``pipeline(task, model=adapter_dir)``
loads its base CLIP and applies the adapter) or a ``PeftModel`` object. Scores are the Monte-Carlo averaged class
probabilities over the learned prompt distribution; ``score_std`` is their spread over the samples.
"""

from typing import TypedDict

import torch
from transformers.pipelines.base import Pipeline

from ..validation import check_candidate_labels, check_positive_int, load_image, reject_unknown_kwargs, to_json_number

TASK = "hfvid-zero-shot-image-classification"
CALL_ARGUMENTS = ("candidate_labels", "num_samples", "deterministic", "seed", "top_k", "timeout", "batch_size",
                  "num_workers")


class LabelScore(TypedDict):
    label: str
    score: float
    score_std: float


class BayesianZeroShotImageClassificationPipeline(Pipeline):
    """Zero-shot image classification with a Bayesian-prompt-learned CLIP (classes may be unseen in training).

    Example:

    ```python
    >>> import hfvid
    >>> from transformers import pipeline
    >>> pipe = pipeline("hfvid-zero-shot-image-classification", model="path/to/bpl-adapter")  # doctest: +SKIP
    >>> pipe("dog.jpg", candidate_labels=["dog", "cat", "car"])  # doctest: +SKIP
    [{'label': 'dog', 'score': 0.93, 'score_std': 0.02}, {'label': 'cat', ...}, ...]
    ```

    Call arguments: `candidate_labels` (required, distinct; a string is split on commas), `num_samples` (MC samples, default the adapter's
    `num_samples_eval`), `deterministic` (one pass with the posterior mean), `seed` (of the samples; default the
    adapter's `eval_seed`, so results are reproducible), `top_k`, `batch_size`.
    """

    _load_image_processor = True
    _load_tokenizer = True
    _load_processor = False
    _load_feature_extractor = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from ..models.bayesian_prompt import find_bayesian_prompt_layer

        try:
            find_bayesian_prompt_layer(self.model)
        except ValueError:
            source = getattr(self.model, "name_or_path", "") or getattr(self.model.config, "_name_or_path", "")
            raise ValueError(f"model: {TASK} needs a CLIP model with a BayesianPrompt adapter (an adapter folder or a "
                             f"PeftModel), got a {type(self.model).__name__} from {source!r}") from None

    def __call__(self, images, candidate_labels=None, **kwargs) -> list[LabelScore] | list[list[LabelScore]]:
        check_candidate_labels(candidate_labels)
        if isinstance(images, (list, tuple)) and not images:
            raise ValueError("images: got an empty list (expected an image or a list of images)")
        return super().__call__(images, candidate_labels=candidate_labels, **kwargs)

    def _sanitize_parameters(self, candidate_labels=None, num_samples=None, deterministic=None, seed=None, top_k=None,
                             timeout=None, **kwargs):
        reject_unknown_kwargs(TASK, kwargs, CALL_ARGUMENTS)
        from ..models.bayesian_prompt import build_class_prompts, check_class_names, find_bayesian_prompt_layer
        from ..models.bayesian_prompt.model import bpl_config

        forward, postprocess = {}, {}
        if candidate_labels is not None:
            candidate_labels = check_candidate_labels(candidate_labels)
            labels = check_class_names(candidate_labels)
            config = bpl_config(find_bayesian_prompt_layer(self.model))
            forward["prompts"] = build_class_prompts(self.tokenizer, labels, config)
            postprocess["labels"] = candidate_labels
        for name, value in (("num_samples", num_samples), ("deterministic", deterministic), ("seed", seed)):
            if value is not None:
                forward[name] = value
        if check_positive_int(top_k, "top_k", optional=True) is not None:
            postprocess["top_k"] = top_k
        return ({"timeout": timeout} if timeout is not None else {}), forward, postprocess

    def preprocess(self, image, timeout=None):
        image = load_image(image, "images", timeout=timeout)
        return self.image_processor(images=image, return_tensors="pt")

    def _forward(self, model_inputs, prompts=None, num_samples=None, deterministic=False, seed=None):
        from ..models.bayesian_prompt import bayesian_prompt_classify

        generator = None if seed is None else torch.Generator(device=self.device).manual_seed(seed)
        outputs = bayesian_prompt_classify(
            self.model, model_inputs["pixel_values"], prompts["input_ids"].to(self.device),
            prompts["attention_mask"].to(self.device), num_samples=num_samples, deterministic=deterministic,
            generator=generator,
        )
        return {"scores": outputs.logits.exp(), "scores_std": outputs.probs_std}

    def postprocess(self, model_outputs, labels=None, top_k=None) -> list[LabelScore]:
        scores = model_outputs["scores"].reshape(-1).float().tolist()
        stds = model_outputs["scores_std"].reshape(-1).float().tolist()
        ranked = sorted(zip(labels, scores, stds), key=lambda item: -item[1])
        return [{"label": label, "score": to_json_number(score), "score_std": to_json_number(std)}
                for label, score, std in ranked[:top_k]]


__all__ = ["BayesianZeroShotImageClassificationPipeline", "LabelScore"]
