"""REST with a BLIP captioner: conformance, config round trip, BLIP equivalence at T=1, frame fusion, likelihood
scoring (shared cache == full forward, length-normalised ties), generation and the BLIP-style processor."""

import numpy as np
import pytest
import torch
from model_tester import ModelTester
from transformers import (
    AutoConfig,
    AutoProcessor,
    BlipForConditionalGeneration,
    BlipImageProcessor,
    BlipProcessor,
    GitConfig,
)

from hfvid.models.rest import RESTConfig, RESTForVideoCaptioning, RESTForZeroShotVideoClassification, RESTProcessor
from hfvid.data.rest_videos import synthetic_tokenizers, tiny_synthetic_components

CAPTIONS = ["a red square moves left", "a blue square", "a green square moves up"]


@pytest.fixture
def tiny_blip():
    return tiny_synthetic_components(num_frames=2, image_size=16, hidden_size=32, layers=1, captioner_type="blip")


def _model(config, seed=0):
    torch.manual_seed(seed)
    return RESTForVideoCaptioning(config).eval()


def test_blip_captioner_conformance(tiny_blip, tmp_path):
    config, processor = tiny_blip

    def make_inputs(batch, seed):
        generator = torch.Generator().manual_seed(seed)
        tokens = processor.tokenize_captions([CAPTIONS[i % 3] for i in range(batch)])
        return {"pixel_values": torch.randn(batch, 2, 3, 16, 16, generator=generator),
                "input_ids": tokens["input_ids"], "attention_mask": tokens["attention_mask"]}

    def make_labels(inputs):
        return {"labels": inputs["input_ids"].masked_fill(inputs["attention_mask"] == 0, -100)}

    bad = make_inputs(1, 0)
    tester = ModelTester(RESTForVideoCaptioning, config, make_inputs, make_labels, output_keys=("logits",))
    tester.run_all(tmp_path, offline=False, bad_inputs=[
        ({**bad, "pixel_values": torch.rand(1, 3, 3, 16, 16)}, "num_frames"),
        ({**bad, "pixel_values": torch.rand(1, 3, 16, 16)}, "pixel_values"),
        ({**bad, "labels": bad["input_ids"][:, :2]}, "labels"),
    ])


def test_blip_config_round_trip_and_validation(tiny_blip, tmp_path):
    config, _ = tiny_blip
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, RESTConfig) and loaded.captioner_type == "blip" and loaded.blip_frame_fusion == "concat"
    assert loaded.captioner_config.model_type == "blip"
    assert loaded.captioner_config.text_config.vocab_size == config.captioner_config.text_config.vocab_size
    assert RESTConfig(captioner_type="blip").captioner_config.model_type == "blip"  # BLIP-base defaults
    assert RESTConfig().captioner_config.model_type == "git"  # the default stays GIT
    with pytest.raises(ValueError, match="captioner_type"):
        RESTConfig(captioner_type="flamingo")
    with pytest.raises(ValueError, match="blip_frame_fusion"):
        RESTConfig(captioner_type="blip", blip_frame_fusion="max")
    with pytest.raises(ValueError, match="BlipConfig"):
        RESTConfig(captioner_type="blip", captioner_config=GitConfig())


def test_one_frame_equals_blip_on_the_image(tiny_blip):
    config, processor = tiny_blip
    config = RESTConfig(**{**config.to_dict(), "num_frames": 1})
    model = _model(config)
    assert not model.captioner.temporal_embedding.any()  # starts as the image model
    frames = torch.randn(2, 3, 16, 16)
    ids = processor.tokenize_captions(CAPTIONS[:2])
    with torch.no_grad():
        video = model(frames[:, None], input_ids=ids["input_ids"], attention_mask=ids["attention_mask"]).logits
        image = BlipForConditionalGeneration.forward(model.captioner.blip, pixel_values=frames,
                                                     input_ids=ids["input_ids"],
                                                     attention_mask=ids["attention_mask"]).logits
    torch.testing.assert_close(video, image, atol=1e-6, rtol=0)


def test_frame_fusion_modes(tiny_blip):
    config, processor = tiny_blip
    frames = torch.randn(1, 2, 3, 16, 16)
    ids = processor.tokenize_captions(CAPTIONS[:1])["input_ids"]
    model = _model(config)
    patches = (16 // 8) ** 2 + 1
    with torch.no_grad():
        assert model.captioner.encode_video(frames).shape == (1, 2 * patches, 32)  # concat: T * P tokens
        logits = lambda x: model(x, input_ids=ids).logits  # noqa: E731
        assert (logits(frames) - logits(frames.flip(1))).abs().max() < 1e-6  # zero tau: a bag of frames
        model.captioner.temporal_embedding[1].normal_(std=5.0)  # (the tiny random decoder barely looks at images)
        assert (logits(frames) - logits(frames.flip(1))).abs().max() > 1e-5  # order seen once tau is trained
    for fusion in ("mean", "middle"):
        other = _model(RESTConfig(**{**config.to_dict(), "blip_frame_fusion": fusion}))
        with torch.no_grad():
            memory = other.captioner.encode_video(frames)
            assert memory.shape == (1, patches, 32)
            single = other.captioner.blip.vision_model(pixel_values=frames[:, 1]).last_hidden_state  # T // 2 = 1
            if fusion == "middle":
                torch.testing.assert_close(memory, single)
            else:
                both = other.captioner.blip.vision_model(pixel_values=frames[0]).last_hidden_state.mean(0)
                torch.testing.assert_close(memory[0], both, atol=1e-5, rtol=0)


def test_blip_likelihood_scoring_is_shared_exact_and_length_normalised(tiny_blip):
    config, processor = tiny_blip
    model = _model(config)
    pixel_values = torch.randn(2, 2, 3, 16, 16)
    texts = processor.tokenize_captions(["a red square", "a red square moves left", "a blue square moves up"])
    args = (texts["input_ids"], texts["attention_mask"], texts["labels"])
    with torch.no_grad():
        scores = model.score_texts(pixel_values, *args)
        # the shared memory + BOS caches (default, chunked or not) equal the full forward of every prompt
        torch.testing.assert_close(scores, model.score_texts(pixel_values, *args, share_visual_prefix=False),
                                   atol=1e-5, rtol=0)
        torch.testing.assert_close(scores, model.score_texts(pixel_values, *args, text_chunk_size=2),
                                   atol=1e-6, rtol=0)
        single = processor.tokenize_captions(["a red square moves left"])
        logits = model(pixel_values[:1], input_ids=single["input_ids"]).logits[0].log_softmax(-1)
        ids = single["input_ids"][0]
        manual = sum(logits[i - 1, ids[i]] for i in range(1, len(ids))) / (len(ids) - 1)
        torch.testing.assert_close(scores[0, 1], manual, atol=1e-5, rtol=0)
        # uniform next-token distribution (LM head at zero): labels of different token length must tie
        head = model.captioner.blip.text_decoder.cls.predictions
        head.decoder.weight.zero_()
        head.bias.zero_()
        tied = model.score_texts(pixel_values, *args)
    torch.testing.assert_close(tied, torch.full_like(tied, -np.log(config.captioner_config.text_config.vocab_size)),
                               atol=1e-6, rtol=0)


def test_blip_generate_and_zero_shot_rules(tiny_blip):
    config, processor = tiny_blip
    model = _model(config)
    pixel_values = torch.randn(2, 2, 3, 16, 16)
    ids = model.generate(pixel_values, max_new_tokens=4)
    assert ids.shape[0] == 2 and (ids[:, 0] == config.captioner_config.text_config.bos_token_id).all()
    assert all(isinstance(t, str) for t in processor.batch_decode(ids))
    prompt = processor.generation_prompt_ids(2, "a ")  # "[CLS] a": the prompt is kept, [CLS] becomes BOS
    with_prompt = model.generate(pixel_values, input_ids=prompt, max_new_tokens=3)
    assert (with_prompt[:, 1] == prompt[:, 1]).all()
    sampled = model.generate(pixel_values, do_sample=True, top_p=0.9, num_beams=1, num_return_sequences=3,
                             max_new_tokens=3)
    assert sampled.shape[0] == 6
    config.scoring = "combined"
    classifier = RESTForZeroShotVideoClassification(config).eval()
    classes = processor.tokenize_captions(["a red square", "a blue square moves up"])
    clip_classes = processor.tokenize_for_retriever(["a red square", "a blue square moves up"])
    captions = processor.tokenize_for_retriever(["a blue square moves up", "a red square"])
    with torch.no_grad():
        out = classifier(pixel_values, class_input_ids=classes["input_ids"],
                         class_attention_mask=classes["attention_mask"], class_labels=classes["labels"],
                         class_text_input_ids=clip_classes["input_ids"],
                         class_text_attention_mask=clip_classes["attention_mask"],
                         caption_text_input_ids=captions["input_ids"][:, None],
                         caption_text_attention_mask=captions["attention_mask"][:, None])
    assert out.logits.shape == (2, 2) and out.likelihood_scores.shape == (2, 2)
    assert out.text_similarity_scores.argmax(-1).tolist() == [1, 0]  # Rule A ranks the caption's own class first


def test_blip_processor_resizes_without_crop_and_mirrors_blip(tiny_blip, tmp_path):
    config, processor = tiny_blip
    video = np.zeros((3, 16, 32, 3), np.uint8)
    video[:, :, :4] = 255  # a white stripe at the left edge: a centre crop (GIT) would cut it off
    pixels = processor(videos=video)["pixel_values"]
    assert tuple(pixels.shape) == (1, 2, 3, 16, 16)
    assert pixels[0, 0, :, :, 0].min() > 1.0 and pixels[0, 0, :, :, -1].max() < 0
    processor.save_pretrained(tmp_path)
    loaded = AutoProcessor.from_pretrained(tmp_path)
    torch.testing.assert_close(loaded(videos=video)["pixel_values"], pixels)
    bert, clip = synthetic_tokenizers()
    blip = BlipProcessor(BlipImageProcessor(size={"height": 24, "width": 24}), bert)
    rest = RESTProcessor.from_captioner_processor(blip, "blip", num_frames=3, retriever_tokenizer=clip)
    assert tuple(rest(videos=video)["pixel_values"].shape) == (1, 3, 3, 24, 24)
    assert rest.tokenizer is bert and rest.retriever_tokenizer is clip
