"""REST pipelines: `hfvid-video-captioning` (video -> caption) and `hfvid-zero-shot-video-classification`
(video + candidate labels -> labels sorted by score, with the generated caption).

Videos are paths, `(frames, H, W, 3)` arrays or lists of frames; files are streamed with PyAV and only the
`num_frames` uniformly sampled frames are kept (shorter videos repeat frames, see `RESTVideoProcessor`).
"""

from typing import NotRequired, TypedDict

import torch
from transformers.pipelines.base import Pipeline

from ..validation import check_candidate_labels, check_model_type, check_positive_int, reject_unknown_kwargs, to_json_number


class GeneratedCaption(TypedDict):
    generated_text: str


class LabelScore(TypedDict):
    label: str
    score: float
    caption: NotRequired[str]  # absent with return_caption=False


class _RESTPipeline(Pipeline):
    _load_processor = True
    _load_image_processor = False
    _load_tokenizer = False
    _load_feature_extractor = False

    def __init__(self, *args, **kwargs):
        # before super().__init__, which already reads REST config fields while sanitising default arguments
        check_model_type(kwargs.get("model", args[0] if args else None), kwargs.get("task") or "REST pipelines",
                         ["hfvid-rest"], "REST")
        super().__init__(*args, **kwargs)
        if getattr(self, "processor", None) is None:
            raise ValueError("REST pipelines need the model's RESTProcessor (saved next to the model)")
        # batching pads `pixel_values` with the feature extractor's rule; all videos have the same shape
        self.feature_extractor = self.feature_extractor or self.processor.video_processor

    def __call__(self, videos, **kwargs):
        if isinstance(videos, (list, tuple)) and not videos:
            raise ValueError("videos: got an empty list (expected a video file path, frames, or a list of them)")
        return super().__call__(videos, **kwargs)

    def preprocess(self, video, progress_bar=None):
        pixel_values = self.processor.video_processor(video, num_frames=self.model.config.num_frames,
                                                      progress_bar=progress_bar, return_tensors="pt")["pixel_values"]
        return {"pixel_values": pixel_values.to(self.dtype)}

    def _captions(self, pixel_values, **generate_kwargs) -> torch.Tensor:
        prompt_ids = self.processor.generation_prompt_ids(len(pixel_values), self.model.config.prompt)
        return self.model.generate(pixel_values, input_ids=prompt_ids, **generate_kwargs)

    def _decode(self, token_ids) -> list[str]:
        return self.processor.batch_decode(token_ids, prompt=self.model.config.prompt)


class VideoCaptioningPipeline(_RESTPipeline):
    """Caption a video with a REST (or any hfvid-rest) video captioner.

    Example:

    ```python
    >>> import hfvid
    >>> from transformers import pipeline
    >>> pipe = pipeline("hfvid-video-captioning", model="path/or/hub-id")  # doctest: +SKIP
    >>> pipe("clip.mp4")  # doctest: +SKIP
    [{'generated_text': 'a man is doing a handstand on a beach'}]
    ```

    Call arguments: generation settings (`max_new_tokens`, `num_beams`, `min_new_tokens`, or `generate_kwargs`),
    `batch_size`, `progress_bar` (over decoded frames; default on above 300 frames).
    """

    def _sanitize_parameters(self, generate_kwargs=None, max_new_tokens=None, num_beams=None, min_new_tokens=None,
                             progress_bar=None, **kwargs):
        reject_unknown_kwargs("hfvid-video-captioning", kwargs, ("generate_kwargs", "max_new_tokens", "num_beams",
                                                                 "min_new_tokens", "progress_bar", "batch_size",
                                                                 "num_workers"))
        generate_kwargs = dict(generate_kwargs or {})
        for name, value in (("max_new_tokens", max_new_tokens), ("num_beams", num_beams),
                            ("min_new_tokens", min_new_tokens)):
            if value is not None:
                generate_kwargs[name] = value
        if generate_kwargs.get("num_return_sequences", 1) != 1:
            raise ValueError("the captioning pipeline returns one caption per video (num_return_sequences=1)")
        return {"progress_bar": progress_bar}, {"generate_kwargs": generate_kwargs}, {}

    def _forward(self, model_inputs, generate_kwargs=None):
        return {"token_ids": self._captions(model_inputs["pixel_values"], **(generate_kwargs or {}))}

    def postprocess(self, model_outputs) -> list[GeneratedCaption]:
        return [{"generated_text": text} for text in self._decode(model_outputs["token_ids"])]


class ZeroShotVideoClassificationPipeline(_RESTPipeline):
    """Zero-shot action recognition with a REST captioner: candidate labels scored from the video's captions.

    Rules (`scoring`, default the model's): `"text_similarity"` (CLIP cosine between `num_captions` generated
    captions, one beam search + nucleus samples, and each `hypothesis_template.format(label)`), `"likelihood"`
    (length-normalised log-likelihood of each prompt under the captioner) or `"combined"`. `score` is a softmax
    over labels (Rule A logits are scaled by CLIP's logit scale first), or with `function_to_apply="none"` the rule's
    raw score (cosine or mean token log-prob); sampling is seeded by `seed`. `return_caption=False` drops the
    `"caption"` key (and, for the likelihood rule, skips caption generation: evaluation runs).

    Example:

    ```python
    >>> import hfvid
    >>> from transformers import pipeline
    >>> pipe = pipeline("hfvid-zero-shot-video-classification", model="path/or/hub-id")  # doctest: +SKIP
    >>> pipe("clip.mp4", candidate_labels=["playing guitar", "surfing"], hypothesis_template="a person {}")
    [{'label': 'surfing', 'score': 0.91, 'caption': 'a man riding a wave on a surfboard'}, ...]  # doctest: +SKIP
    ```
    """

    def __call__(self, videos, candidate_labels=None, **kwargs) -> list[LabelScore] | list[list[LabelScore]]:
        check_candidate_labels(candidate_labels)
        return super().__call__(videos, candidate_labels=candidate_labels, **kwargs)

    def _sanitize_parameters(self, candidate_labels=None, hypothesis_template=None, scoring=None, num_captions=None,
                             seed=0, top_k=None, function_to_apply=None, return_caption=True, progress_bar=None,
                             **kwargs):
        reject_unknown_kwargs("hfvid-zero-shot-video-classification", kwargs, (
            "candidate_labels", "hypothesis_template", "scoring", "num_captions", "seed", "top_k",
            "function_to_apply", "return_caption", "progress_bar", "batch_size", "num_workers"))
        forward, post = {}, {}
        if candidate_labels is not None:
            labels = check_candidate_labels(candidate_labels)
            template = hypothesis_template or self.model.config.class_template
            if "{}" not in template:
                raise ValueError(f"hypothesis_template must contain '{{}}', got {template!r}")
            prompts = [template.format(label) for label in labels]
            tokens = self.processor.tokenize_captions(prompts, prompt=self.model.config.prompt)
            clip_tokens = self.processor.tokenize_for_retriever(prompts)
            forward["class_inputs"] = {
                "class_input_ids": tokens["input_ids"], "class_attention_mask": tokens["attention_mask"],
                "class_labels": tokens["labels"], "class_text_input_ids": clip_tokens["input_ids"],
                "class_text_attention_mask": clip_tokens["attention_mask"],
            }
            post["candidate_labels"] = labels
        scoring = scoring or self.model.config.scoring
        if scoring not in ("text_similarity", "likelihood", "combined"):
            raise ValueError(f"scoring must be text_similarity, likelihood or combined, got {scoring!r}")
        forward.update(scoring=scoring, num_captions=num_captions or self.model.config.num_eval_captions, seed=seed,
                       return_caption=return_caption)
        post["scoring"] = scoring
        if check_positive_int(top_k, "top_k", optional=True) is not None:
            post["top_k"] = top_k
        if function_to_apply is not None:
            if function_to_apply not in ("softmax", "none"):
                raise ValueError(f"function_to_apply must be 'softmax' or 'none', got {function_to_apply!r}")
            post["function_to_apply"] = function_to_apply
        return {"progress_bar": progress_bar}, forward, post

    def _forward(self, model_inputs, class_inputs=None, scoring="text_similarity", num_captions=1, seed=0,
                 return_caption=True):
        pixel_values = model_inputs["pixel_values"]
        batch = len(pixel_values)
        beam = None  # the headline caption: deterministic beam search (Rule B needs it only for the output)
        if return_caption or scoring != "likelihood":
            beam = self._captions(pixel_values)
        caption_tokens = {}
        if scoring != "likelihood":
            captions = [[text] for text in self._decode(beam)]
            if num_captions > 1:  # nucleus samples, seeded so results are reproducible
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(seed)
                    sampled = self._captions(pixel_values, do_sample=True, top_p=0.9, num_beams=1,
                                             num_return_sequences=num_captions - 1)
                for index, text in enumerate(self._decode(sampled)):
                    captions[index // (num_captions - 1)].append(text)
            clip = self.processor.tokenize_for_retriever([c for video in captions for c in video])
            caption_tokens = {
                "caption_text_input_ids": clip["input_ids"].reshape(batch, num_captions, -1),
                "caption_text_attention_mask": clip["attention_mask"].reshape(batch, num_captions, -1),
            }
        logits = self.model(pixel_values=pixel_values, scoring=scoring, **class_inputs, **caption_tokens).logits
        return {"logits": logits, "caption_ids": beam}

    def postprocess(self, model_outputs, candidate_labels=None, scoring="text_similarity", top_k=None,
                    function_to_apply="softmax"):
        logits = model_outputs["logits"][0].float()
        if function_to_apply == "none":  # the rule's raw scores (no ties from a saturated softmax: evaluation)
            probabilities = logits
        else:
            if scoring == "text_similarity":
                logits = logits * self.model.retriever.logit_scale.detach().exp().float()
            probabilities = logits.softmax(-1)
        order = torch.argsort(-logits, stable=True).tolist()[: top_k or len(candidate_labels)]
        results = [{"label": candidate_labels[i], "score": to_json_number(probabilities[i])} for i in order]
        if model_outputs["caption_ids"] is not None:
            caption = self._decode(model_outputs["caption_ids"])[0]
            results = [{**result, "caption": caption} for result in results]
        return results


__all__ = ["GeneratedCaption", "LabelScore", "VideoCaptioningPipeline", "ZeroShotVideoClassificationPipeline"]
