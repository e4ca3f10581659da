"""REST models: conformance checks, the GIT video path, temporal embeddings, likelihood and text-similarity rules."""

import pytest
import torch
from model_tester import ModelTester
from transformers import GitForCausalLM

from hfvid.models.rest import RESTConfig, RESTForVideoCaptioning, RESTForZeroShotVideoClassification
from hfvid.models.rest.modeling_rest import sequence_log_likelihood

CAPTIONS = ["a red square moves left", "a blue square", "a green square moves up"]


def _caption_inputs(processor, config):
    def make_inputs(batch, seed):
        generator = torch.Generator().manual_seed(seed)
        tokens = processor.tokenize_captions([CAPTIONS[i % 3] for i in range(batch)])
        return {"pixel_values": torch.randn(batch, config.num_frames, 3, 16, 16, generator=generator),
                "input_ids": tokens["input_ids"], "attention_mask": tokens["attention_mask"],
                "_labels": tokens["labels"]}
    return make_inputs


def test_captioner_conformance(tiny_rest, tmp_path):
    config, processor = tiny_rest
    make = _caption_inputs(processor, config)

    def make_inputs(batch, seed):
        inputs = make(batch, seed)
        inputs.pop("_labels")
        return inputs

    def make_labels(inputs):
        return {"labels": inputs["input_ids"].masked_fill(inputs["attention_mask"] == 0, -100)}

    bad = make_inputs(1, 0)
    tester = ModelTester(RESTForVideoCaptioning, config, make_inputs, make_labels, output_keys=("logits",))
    tester.run_all(tmp_path, offline=False, bad_inputs=[
        ({**bad, "pixel_values": torch.rand(1, 3, 3, 16, 16)}, "num_frames"),  # T > num_frames: clear error
        ({**bad, "pixel_values": torch.rand(1, 3, 16, 16)}, "pixel_values"),
        ({**bad, "labels": bad["input_ids"][:, :2]}, "labels"),
    ])


def test_zero_shot_conformance(tiny_rest, tmp_path):
    config, processor = tiny_rest
    config.scoring = "combined"
    classes = processor.tokenize_captions([f"a {c} square moves left" for c in ("red", "green", "blue", "red")])
    clip_classes = processor.tokenize_for_retriever(["a red square", "a green square", "a blue square", "a square"])

    def make_inputs(batch, seed):
        generator = torch.Generator().manual_seed(seed)
        captions = processor.tokenize_for_retriever([CAPTIONS[i % 3] for i in range(batch)])
        return {"pixel_values": torch.randn(batch, 2, 3, 16, 16, generator=generator),
                "class_input_ids": classes["input_ids"], "class_attention_mask": classes["attention_mask"],
                "class_labels": classes["labels"], "class_text_input_ids": clip_classes["input_ids"],
                "class_text_attention_mask": clip_classes["attention_mask"],
                "caption_text_input_ids": captions["input_ids"][:, None],
                "caption_text_attention_mask": captions["attention_mask"][:, None]}

    bad = make_inputs(1, 0)
    tester = ModelTester(RESTForZeroShotVideoClassification, config, make_inputs, None, output_keys=("logits",))
    tester.run_all(tmp_path, offline=False, bad_inputs=[
        ({**bad, "class_input_ids": bad["class_input_ids"][:0]}, "candidate label"),
        ({k: v for k, v in bad.items() if not k.startswith("caption")}, "caption_text_input_ids"),
        ({**bad, "scoring": "vote"}, "scoring"),
    ])


def test_config_validation():
    with pytest.raises(ValueError, match="num_image_with_embedding"):
        RESTConfig(num_frames=4, captioner_config={"num_image_with_embedding": 6})
    with pytest.raises(ValueError, match="class_template"):
        RESTConfig(class_template="a person")
    with pytest.raises(ValueError, match="num_frames"):
        RESTConfig(num_frames=0)
    assert RESTConfig(num_frames=3).captioner_config.num_image_with_embedding == 3


def test_video_path_with_one_frame_equals_gits_image_path(tiny_rest):
    config, processor = tiny_rest
    config = RESTConfig(**{**config.to_dict(), "num_frames": 1,
                           "captioner_config": {**config.captioner_config.to_dict(), "num_image_with_embedding": 1}})
    model = RESTForVideoCaptioning(config).eval()
    assert all(not p.any() for p in model.captioner.git.img_temporal_embedding)  # starts as the image model
    frames = torch.randn(2, 3, 16, 16)
    ids = processor.tokenize_captions(CAPTIONS[:2])
    with torch.no_grad():
        video = model(frames[:, None], input_ids=ids["input_ids"], attention_mask=ids["attention_mask"]).logits
        image = GitForCausalLM.forward(model.captioner, pixel_values=frames, input_ids=ids["input_ids"],
                                       attention_mask=ids["attention_mask"]).logits
    torch.testing.assert_close(video, image[:, -ids["input_ids"].shape[1]:], atol=1e-6, rtol=0)


def test_frame_order_matters_only_through_temporal_embeddings(tiny_rest):
    config, processor = tiny_rest
    model = RESTForVideoCaptioning(config).eval()
    frames = torch.randn(1, 2, 3, 16, 16)
    ids = processor.tokenize_captions(CAPTIONS[:1])["input_ids"]
    logits = lambda x: model(x, input_ids=ids).logits  # noqa: E731
    with torch.no_grad():
        assert (logits(frames) - logits(frames.flip(1))).abs().max() < 1e-6  # zero tau: a bag of frames
        model.captioner.git.img_temporal_embedding[1].normal_(std=1.0)
        assert (logits(frames) - logits(frames.flip(1))).abs().max() > 1e-4


def test_likelihood_scoring_is_length_normalised_and_batched(tiny_rest):
    config, processor = tiny_rest
    model = RESTForVideoCaptioning(config).eval()
    pixel_values = torch.randn(2, 2, 3, 16, 16)
    texts = processor.tokenize_captions(["a red square", "a red square moves left"])
    with torch.no_grad():
        scores = model.score_texts(pixel_values, texts["input_ids"], texts["attention_mask"], texts["labels"])
        # the shared visual-prefix cache (default, chunked or not) equals the full forward of every prompt
        full = model.score_texts(pixel_values, texts["input_ids"], texts["attention_mask"], texts["labels"],
                                 share_visual_prefix=False)
        chunked = model.score_texts(pixel_values, texts["input_ids"], texts["attention_mask"], texts["labels"],
                                    text_chunk_size=1)
        torch.testing.assert_close(scores, full, atol=1e-5, rtol=0)
        torch.testing.assert_close(scores, chunked, atol=1e-6, rtol=0)
        for k in range(2):  # batched over classes == one class at a time == manual teacher forcing
            single = processor.tokenize_captions([["a red square", "a red square moves left"][k]])
            one = model.score_texts(pixel_values, single["input_ids"], single["attention_mask"], single["labels"])
            torch.testing.assert_close(scores[:, k], one[:, 0], atol=1e-5, rtol=0)
            logits = model(pixel_values[:1], input_ids=single["input_ids"]).logits[0].log_softmax(-1)
            ids = single["input_ids"][0]
            manual = sum(logits[i - 1, ids[i]] for i in range(1, len(ids))) / (len(ids) - 1)
            torch.testing.assert_close(scores[0, k], manual, atol=1e-5, rtol=0)
        # uniform next-token distribution: every token has log p = -log V; labels of different length must tie
        model.captioner.output.weight.zero_()
        model.captioner.output.bias.zero_()
        tied = model.score_texts(pixel_values, texts["input_ids"], texts["attention_mask"], texts["labels"])
    torch.testing.assert_close(tied[:, 0], tied[:, 1], atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="non-empty"):  # no candidate text to score
        model.score_texts(pixel_values, texts["input_ids"][:0])


def test_masked_positions_do_not_reach_the_loss():
    logits = torch.randn(1, 5, 7)
    labels = torch.tensor([[-100, -100, 3, 4, -100]])  # prompt, then caption tokens, then padding
    base = sequence_log_likelihood(logits, labels)
    perturbed = logits.clone()
    perturbed[:, [0, 3, 4]] += 5 * torch.randn(3, 7)  # positions predicting masked tokens (and the last)
    torch.testing.assert_close(sequence_log_likelihood(perturbed, labels), base)


def test_text_similarity_ranks_the_class_whose_prompt_is_the_caption(tiny_rest):
    config, processor = tiny_rest
    config.scoring = "text_similarity"
    model = RESTForZeroShotVideoClassification(config).eval()
    prompts = ["a red square moves left", "a red square moves right", "a blue square moves up", "a green square"]
    classes = processor.tokenize_for_retriever(prompts)
    for target in range(len(prompts)):
        caption = processor.tokenize_for_retriever([prompts[target]])
        with torch.no_grad():
            out = model(torch.randn(1, 2, 3, 16, 16), class_text_input_ids=classes["input_ids"],
                        class_text_attention_mask=classes["attention_mask"],
                        caption_text_input_ids=caption["input_ids"][:, None],
                        caption_text_attention_mask=caption["attention_mask"][:, None])
        assert out.logits.argmax(-1).item() == target
        torch.testing.assert_close(out.logits[0, target], torch.tensor(1.0), atol=1e-5, rtol=0)


def _zero_shot_inputs(processor):
    classes = processor.tokenize_captions(["a red square moves left", "a blue square moves up", "a green square"])
    clip_classes = processor.tokenize_for_retriever(["a red square moves left", "a blue square moves up", "a green"])
    captions = processor.tokenize_for_retriever(CAPTIONS[:2])
    return {"pixel_values": torch.randn(2, 2, 3, 16, 16, generator=torch.Generator().manual_seed(3)),
            "class_input_ids": classes["input_ids"], "class_attention_mask": classes["attention_mask"],
            "class_labels": classes["labels"], "class_text_input_ids": clip_classes["input_ids"],
            "class_text_attention_mask": clip_classes["attention_mask"],
            "caption_text_input_ids": captions["input_ids"][:, None],
            "caption_text_attention_mask": captions["attention_mask"][:, None]}


def test_saved_models_reload_with_no_missing_weights(tiny_rest, tmp_path):
    """Issue 15: a zero-shot model saved with its CLIP retriever reloads it (Rules A and C identical after the round
    trip); a captioner checkpoint (no CLIP) loads as a zero-shot model with no missing weights, scoring by
    likelihood only, and refuses Rule A with a clear error instead of using a random CLIP."""
    config, processor = tiny_rest
    inputs = _zero_shot_inputs(processor)
    torch.manual_seed(0)
    model = RESTForZeroShotVideoClassification(config).eval()
    model.save_pretrained(tmp_path / "zero_shot")
    loaded, info = RESTForZeroShotVideoClassification.from_pretrained(tmp_path / "zero_shot",
                                                                      output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    loaded.eval()
    with torch.no_grad():
        for scoring in ("text_similarity", "likelihood", "combined"):
            torch.testing.assert_close(loaded(**inputs, scoring=scoring).logits,
                                       model(**inputs, scoring=scoring).logits, rtol=0, atol=0)

    captioner, info = RESTForVideoCaptioning.from_pretrained(tmp_path / "zero_shot", output_loading_info=True)
    assert not info["missing_keys"] and captioner.config.retriever_config is None
    captioner.save_pretrained(tmp_path / "captioner")
    assert config.retriever_config is not None  # the captioner dropped the retriever from a copy of the config
    zero_shot, info = RESTForZeroShotVideoClassification.from_pretrained(tmp_path / "captioner",
                                                                         output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    assert zero_shot.retriever is None and zero_shot.config.scoring == "likelihood"
    zero_shot.eval()
    with torch.no_grad():
        torch.testing.assert_close(zero_shot(**inputs).logits, model(**inputs, scoring="likelihood").logits,
                                   rtol=0, atol=0)
        for scoring in ("text_similarity", "combined"):
            with pytest.raises(ValueError, match="needs a CLIP retriever"):
                zero_shot(**inputs, scoring=scoring)
    with pytest.raises(ValueError, match="retriever_config"):
        RESTConfig(scoring="text_similarity")
    assert RESTConfig().scoring == "likelihood" and RESTConfig(retriever_config={}).scoring == "text_similarity"


def test_zero_shot_pipeline_on_a_captioner_checkpoint(tiny_rest, tmp_path):
    """The quickstart's folder (a captioner, no CLIP): the zero-shot pipeline loads it with no missing weights,
    scores by likelihood by default and refuses Rule A with the clear error."""
    from transformers import pipeline

    from hfvid.data.synthetic_video import shapes_in_motion

    config, processor = tiny_rest
    torch.manual_seed(0)
    RESTForVideoCaptioning(config).save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    classifier = pipeline("hfvid-zero-shot-video-classification", model=str(tmp_path))
    assert classifier.model.retriever is None and classifier.model.config.scoring == "likelihood"
    video = shapes_in_motion(1, image_size=16, seed=3)[0]["frames"]
    labels = ["red square moves left", "blue square moves up"]
    assert {r["label"] for r in classifier(video, candidate_labels=labels, return_caption=False)} == set(labels)
    with pytest.raises(ValueError, match="needs a CLIP retriever"):
        classifier(video, candidate_labels=labels, scoring="text_similarity", num_captions=1)
