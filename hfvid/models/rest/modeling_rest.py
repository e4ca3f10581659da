"""REST models: a GIT (or BLIP) video captioner trained on retrieved pseudo-captions, and its zero-shot classifier.

Both classes reuse transformers' `GitForCausalLM` unchanged: given `pixel_values` of shape `(B, T, 3, H, W)` it
encodes every frame with its CLIP-style ViT, adds a learnable temporal embedding per frame (zero at start, so the
video model starts as the image model) and puts the `T * P` frame tokens in front of the text tokens. With
`captioner_type="blip"` the captioner is `BlipForConditionalGeneration` wrapped by `RESTBlipVideoCaptioner` (same
temporal embeddings; the frame tokens are the text decoder's cross-attention memory).
"""

import copy
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import CLIPModel, DynamicCache, EncoderDecoderCache, GitForCausalLM, PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput, can_return_tuple

from .configuration_rest import RESTConfig
from .modeling_blip_video import RESTBlipVideoCaptioner
from .retrieval import clip_text_embeddings


@dataclass
class RESTCaptioningOutput(ModelOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`, returned when `labels` are given): token-level cross-entropy of
            the caption tokens (positions labelled -100, i.e. padding and prompt, are ignored).
        logits (`torch.FloatTensor` of shape `(batch, text_length, vocab_size)`): logits at the text positions;
            `logits[:, i]` predicts token `i + 1`.
        sequence_log_likelihood (`torch.FloatTensor` of shape `(batch,)`, returned with `labels`): mean log-prob
            of each sequence's labelled tokens (the length-normalised score of Rule B).
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    sequence_log_likelihood: torch.FloatTensor | None = None


@dataclass
class RESTZeroShotOutput(ModelOutput):
    """
    Args:
        loss (`None`): REST's classifier is zero-shot; it has no classification loss (train the captioner).
        logits (`torch.FloatTensor` of shape `(batch, num_classes)`): scores of the chosen rule (higher is better).
        text_similarity_scores (`torch.FloatTensor` of shape `(batch, num_classes)`, *optional*): Rule A, the mean
            cosine between the CLIP embeddings of each video's captions and of each class prompt.
        likelihood_scores (`torch.FloatTensor` of shape `(batch, num_classes)`, *optional*): Rule B, the
            length-normalised log-likelihood of each class prompt under the captioner.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    text_similarity_scores: torch.FloatTensor | None = None
    likelihood_scores: torch.FloatTensor | None = None


def sequence_log_likelihood(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean log-probability of the labelled tokens of each row: `logits (N, L, V)` at the text positions (position
    i predicts token i + 1), `labels (N, L)` with -100 where a token is not scored."""
    targets = labels[:, 1:]
    log_probs = logits[:, :-1].float().log_softmax(-1)
    mask = targets != -100
    token = log_probs.gather(-1, targets.clamp_min(0)[..., None])[..., 0]
    return (token * mask).sum(-1) / mask.sum(-1).clamp_min(1)


def build_captioner(config: RESTConfig):
    """The captioner module of `config.captioner_type`: `GitForCausalLM` or a `RESTBlipVideoCaptioner`."""
    if config.captioner_type == "blip":
        return RESTBlipVideoCaptioner(config.captioner_config, config.num_frames, config.blip_frame_fusion)
    return GitForCausalLM(config.captioner_config)


TEMPORAL_EMBEDDING_PATTERN = re.compile(r"(?:^|\.)(?:img_temporal_embedding\.\d+|temporal_embedding)$")


def is_temporal_embedding(name: str) -> bool:
    """Whether a parameter name is a captioner's per-frame temporal embedding (GIT's `img_temporal_embedding.<t>`,
    our BLIP wrapper's `temporal_embedding`)."""
    return TEMPORAL_EMBEDDING_PATTERN.search(name) is not None


def interpolate_temporal_embeddings(embeddings: torch.Tensor, num_frames: int) -> torch.Tensor:
    """`(T, ...)` per-frame embeddings -> `(num_frames, ...)`, linear in time with the first and last frames kept.

    Frames are sampled over the whole clip (the processor's segment centres), so frame `t` of `T` sits at the
    relative time `t / (T - 1)`; the new frames take the embedding at their own relative time (`align_corners`).
    Equal counts copy; one source frame is repeated; one target frame takes the first source embedding."""
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    frames = embeddings.shape[0]
    if frames == num_frames:
        return embeddings.clone()
    if frames == 1:
        return embeddings.expand(num_frames, *embeddings.shape[1:]).clone()
    flat = embeddings.reshape(frames, -1).T[None].float()  # (1, D, T)
    resized = F.interpolate(flat, size=num_frames, mode="linear", align_corners=True)[0].T
    return resized.reshape(num_frames, *embeddings.shape[1:]).to(embeddings.dtype)


def resize_temporal_embeddings(state_dict: dict, num_frames: int) -> dict:
    """A copy of a captioner (or REST) state dict with its temporal embeddings resized to `num_frames`
    ([`interpolate_temporal_embeddings`]); GIT's `img_temporal_embedding.<t>` list is renumbered, BLIP's `(T, 1, D)`
    `temporal_embedding` resized along T. A state dict without temporal embeddings is returned unchanged."""
    out, git = {}, {}
    for name, value in state_dict.items():
        match = re.search(r"^(.*img_temporal_embedding)\.(\d+)$", name)
        if match:
            git.setdefault(match.group(1), {})[int(match.group(2))] = value
        elif is_temporal_embedding(name):
            out[name] = interpolate_temporal_embeddings(value, num_frames)
        else:
            out[name] = value
    for prefix, frames in git.items():
        stacked = interpolate_temporal_embeddings(torch.stack([frames[t] for t in sorted(frames)]), num_frames)
        out.update({f"{prefix}.{t}": stacked[t] for t in range(num_frames)})
    return out


def zscore(scores: torch.Tensor) -> torch.Tensor:
    """Standardise each row (population std), so rules with different scales can be mixed (Rule C)."""
    return (scores - scores.mean(-1, keepdim=True)) / scores.std(-1, unbiased=False, keepdim=True).clamp_min(1e-6)


class RESTPreTrainedModel(PreTrainedModel):
    config: RESTConfig
    base_model_prefix = "rest"
    main_input_name = "pixel_values"
    input_modalities = ("video", "text")
    supports_gradient_checkpointing = True  # the captioner's GIT / BLIP layers

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, RESTBlipVideoCaptioner):  # start as the image captioner: temporal embeddings at zero
            init.zeros_(module.temporal_embedding)
        elif isinstance(module, RESTPreTrainedModel) and isinstance(module.captioner, GitForCausalLM):
            for parameter in module.captioner.git.img_temporal_embedding:
                init.zeros_(parameter)

    def temporal_embedding_parameters(self) -> dict[str, torch.nn.Parameter]:
        """The captioner's per-frame temporal embeddings by name (for their own learning rate, see
        `train_rest.py --temporal_embedding_learning_rate`)."""
        return {name: p for name, p in self.named_parameters() if is_temporal_embedding(name)}

    def with_num_frames(self, num_frames: int) -> "RESTPreTrainedModel":
        """A copy of this model for `num_frames` frames: every weight kept, the temporal embeddings interpolated in
        time ([`resize_temporal_embeddings`]) instead of re-initialised; `self` is unchanged."""
        config = copy.deepcopy(self.config)
        config.num_frames = num_frames
        if config.captioner_type == "git":
            config.captioner_config.num_image_with_embedding = num_frames
        model = type(self)(config)
        model.load_state_dict(resize_temporal_embeddings(self.state_dict(), num_frames))  # strict
        return model.to(next(self.parameters()).device).train(self.training)

    # ------------------------------------------------------------------ shared captioner helpers
    def _check_video(self, pixel_values: torch.Tensor) -> None:
        vision = self.config.captioner_config.vision_config
        size = vision.image_size if isinstance(vision.image_size, int) else vision.image_size[0]
        expected = (self.config.num_frames, 3, size, size)
        if pixel_values is None or pixel_values.ndim != 5 or tuple(pixel_values.shape[1:]) != expected:
            shape = None if pixel_values is None else tuple(pixel_values.shape)
            raise ValueError(
                f"pixel_values must have shape (batch, num_frames={expected[0]}, 3, {size}, {size}), got {shape}; "
                "the processor samples (and pads by repetition) exactly num_frames frames per video"
            )

    def _text_logits(self, pixel_values, input_ids, attention_mask=None) -> torch.Tensor:
        """Captioner logits at the text positions for `input_ids` (N, L); `pixel_values` has batch N or 1."""
        if input_ids is None or input_ids.ndim != 2:
            raise ValueError(f"input_ids must be a (batch, length) tensor, got {getattr(input_ids, 'shape', None)}")
        # no cache: teacher forcing needs none, and GIT's layers update a positional cache again when activation
        # checkpointing recomputes them (keys of twice the length, a shape error in the backward pass)
        logits = self.captioner(pixel_values=pixel_values, input_ids=input_ids, attention_mask=attention_mask,
                                use_cache=False).logits
        return logits[:, logits.shape[1] - input_ids.shape[1]:]

    def score_texts(self, pixel_values, input_ids, attention_mask=None, labels=None,
                    share_visual_prefix: bool = True, text_chunk_size: int = 64) -> torch.Tensor:
        """Rule B: `(B, K)` length-normalised log-likelihoods of K texts (shared by all videos) per video.

        `input_ids`/`attention_mask` `(K, L)` come from the processor's `tokenize_captions`; `labels` (default:
        `input_ids` with padding at -100) mark the scored tokens.

        GIT puts the `T * P` visual tokens in front of the text, and they attend only to each other, so their
        decoder states do not depend on the text. With `share_visual_prefix` (default) each video's visual prefix
        (plus the first text token, which all prompts share) is run through the decoder once and its key/value cache
        reused by the K prompts, `text_chunk_size` prompts at a time: the decoder processes `T*P + K*L` tokens per
        video instead of `K * (T*P + L)` (and the image encoder runs once per batch). The result equals the full
        teacher-forced forward (kept as the fallback, `share_visual_prefix=False`, also taken when training with
        activation checkpointing). BLIP shares the same way: the ViT runs once per batch, and the cross-attention
        keys/values of each video's memory (plus the BOS token's self-attention cache) are computed once and reused
        by the K prompts.
        """
        self._check_video(pixel_values)
        if input_ids is None or input_ids.ndim != 2 or input_ids.shape[0] == 0:
            raise ValueError(f"input_ids must be a non-empty (num_texts, length) tensor, got "
                             f"{None if input_ids is None else tuple(input_ids.shape)}")
        if text_chunk_size < 1:
            raise ValueError(f"text_chunk_size must be >= 1, got {text_chunk_size}")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if labels is None:
            labels = input_ids.masked_fill(attention_mask == 0, -100)
        # activation checkpointing recomputes the layers, which would append to the shared caches a second time
        checkpointing = self.training and torch.is_grad_enabled() and self.is_activation_checkpointing
        if (not share_visual_prefix or checkpointing or input_ids.shape[1] < 2
                or (input_ids[:, 0] != input_ids[0, 0]).any()):
            return torch.stack([sequence_log_likelihood(self._text_logits(video, input_ids, attention_mask), labels)
                                for video in pixel_values.split(1)])
        if isinstance(self.captioner, RESTBlipVideoCaptioner):
            return self._score_texts_blip(pixel_values, input_ids, attention_mask, labels, text_chunk_size)
        prefix = self.captioner(pixel_values=pixel_values, input_ids=input_ids[:1, :1].expand(len(pixel_values), 1),
                                use_cache=True)
        first_logits, cache = prefix.logits[:, -1:], prefix.cache  # first_logits predict every prompt's token 1
        states = [(layer.keys, layer.values) for layer in cache.layers]
        length = input_ids.shape[1]
        positions = torch.arange(1, length, device=input_ids.device)[None]
        rows = []
        for video in range(len(pixel_values)):
            scores = []
            for start in range(0, input_ids.shape[0], text_chunk_size):
                ids, mask = input_ids[start:start + text_chunk_size], attention_mask[start:start + text_chunk_size]
                count = len(ids)
                shared = DynamicCache(ddp_cache_data=[(k[video:video + 1].expand(count, -1, -1, -1),
                                                       v[video:video + 1].expand(count, -1, -1, -1))
                                                      for k, v in states])
                rest = self.captioner(input_ids=ids[:, 1:], attention_mask=mask, cache=shared, use_cache=True,
                                      position_ids=positions.expand(count, -1)).logits
                logits = torch.cat([first_logits[video:video + 1].expand(count, -1, -1), rest], dim=1)
                scores.append(sequence_log_likelihood(logits, labels[start:start + text_chunk_size]))
            rows.append(torch.cat(scores))
        return torch.stack(rows)

    def _score_texts_blip(self, pixel_values, input_ids, attention_mask, labels, text_chunk_size) -> torch.Tensor:
        """`score_texts` for BLIP: memory and BOS step once per video, their caches shared by the K prompts."""
        memory = self.captioner.encode_video(pixel_values)
        prefix = self.captioner(input_ids=input_ids[:1, :1].expand(len(memory), 1), encoder_hidden_states=memory,
                                use_cache=True)
        first_logits, cache = prefix.logits[:, -1:], prefix.cache
        self_states = [(layer.keys, layer.values) for layer in cache.self_attention_cache.layers]
        cross_states = [(layer.keys, layer.values) for layer in cache.cross_attention_cache.layers]
        rows = []
        for video in range(len(memory)):
            scores = []
            for start in range(0, input_ids.shape[0], text_chunk_size):
                ids, mask = input_ids[start:start + text_chunk_size], attention_mask[start:start + text_chunk_size]
                count = len(ids)

                def expand(states):
                    return DynamicCache(ddp_cache_data=[(k[video:video + 1].expand(count, -1, -1, -1),
                                                         v[video:video + 1].expand(count, -1, -1, -1))
                                                        for k, v in states])

                shared = EncoderDecoderCache(expand(self_states), expand(cross_states))
                rest = self.captioner(input_ids=ids[:, 1:], attention_mask=mask, cache=shared, use_cache=True,
                                      encoder_hidden_states=memory[video:video + 1].expand(count, -1, -1)).logits
                logits = torch.cat([first_logits[video:video + 1].expand(count, -1, -1), rest], dim=1)
                scores.append(sequence_log_likelihood(logits, labels[start:start + text_chunk_size]))
            rows.append(torch.cat(scores))
        return torch.stack(rows)

    @torch.no_grad()
    def generate(self, pixel_values, input_ids=None, **generation_kwargs) -> torch.LongTensor:
        """Caption token ids `(B * num_return_sequences, length)` (config `generation_kwargs` are the defaults)."""
        self._check_video(pixel_values)
        kwargs = {**self.config.generation_kwargs, **generation_kwargs}
        return self.captioner.generate(pixel_values=pixel_values, input_ids=input_ids, **kwargs)


class RESTForVideoCaptioning(RESTPreTrainedModel):
    """The REST video captioner: GIT (or BLIP) over T frames, trained with the LM loss on retrieved pseudo-captions.

    It holds no CLIP retriever, so its config drops `retriever_config` (a copy: the caller's config is unchanged):
    its checkpoints then load as [`RESTForZeroShotVideoClassification`] with no missing weights (likelihood
    scoring). Loading a zero-shot checkpoint here ignores its `retriever.*` weights."""

    _keys_to_ignore_on_load_unexpected = [r"^retriever\."]

    def __init__(self, config: RESTConfig):
        if config.retriever_config is not None:
            config = copy.deepcopy(config)
            config.retriever_config = None
            config.scoring = "likelihood"
        super().__init__(config)
        self.captioner = build_captioner(config)
        self.post_init()

    @can_return_tuple
    def forward(self, pixel_values, input_ids=None, attention_mask=None, labels=None) -> RESTCaptioningOutput:
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch, num_frames, 3, H, W)`): frames from the processor.
            input_ids (`torch.LongTensor` of shape `(batch, length)`): `[CLS] prompt caption [SEP]` token ids.
            attention_mask (`torch.LongTensor` of shape `(batch, length)`, *optional*): 0 on padding.
            labels (`torch.LongTensor` of shape `(batch, length)`, *optional*): `input_ids` with padding and prompt
                tokens at -100.

        Example:

        ```python
        >>> import torch
        >>> from hfvid import RESTConfig, RESTForVideoCaptioning
        >>> tiny = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 37}
        >>> config = RESTConfig(num_frames=2, captioner_config={**tiny, "vocab_size": 20, "bos_token_id": 2,
        ...     "eos_token_id": 3, "vision_config": {**tiny, "image_size": 16, "patch_size": 8}})
        >>> model = RESTForVideoCaptioning(config)
        >>> ids = torch.tensor([[2, 5, 6, 3]])
        >>> model(torch.rand(1, 2, 3, 16, 16), input_ids=ids, labels=ids).loss.ndim
        0
        ```
        """
        self._check_video(pixel_values)
        if input_ids is None or input_ids.shape[0] != pixel_values.shape[0]:
            raise ValueError(f"input_ids must be (batch={pixel_values.shape[0]}, length), got "
                             f"{None if input_ids is None else tuple(input_ids.shape)}")
        if labels is not None and labels.shape != input_ids.shape:
            raise ValueError(f"labels must have the shape of input_ids {tuple(input_ids.shape)}, got "
                             f"{tuple(labels.shape)}")
        logits = self._text_logits(pixel_values, input_ids, attention_mask)
        loss = likelihood = None
        if labels is not None:
            targets = labels[:, 1:]
            loss = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), targets.flatten(), ignore_index=-100,
                                   label_smoothing=self.config.label_smoothing)
            likelihood = sequence_log_likelihood(logits, labels)
        return RESTCaptioningOutput(loss=loss, logits=logits, sequence_log_likelihood=likelihood)


class RESTForZeroShotVideoClassification(RESTPreTrainedModel):
    """Zero-shot action recognition from a REST captioner: captions -> class scores (Rules A, B or C).

    Holds the captioner and, when `config.retriever_config` is set, the CLIP model (`retriever`, saved with the
    model): CLIP embeds pseudo-captions for retrieval during training and, here, generated captions and class
    prompts for Rules A and C (without it only Rule B, likelihood, is available). Captions are generated outside `forward`
    (see `generate` and the `hfvid-zero-shot-video-classification` pipeline) so `forward` stays free of decoding.
    """

    def __init__(self, config: RESTConfig):
        super().__init__(config)
        self.captioner = build_captioner(config)
        self.retriever = None if config.retriever_config is None else CLIPModel(config.retriever_config)
        self.post_init()

    def _require_retriever(self, scoring: str) -> None:
        if self.retriever is None:
            raise ValueError(f"scoring={scoring!r} needs a CLIP retriever, but this REST model has none "
                             "(config.retriever_config is None: a captioner checkpoint); use scoring='likelihood', "
                             "or bundle a CLIP with train_rest.py --retriever_name_or_path")

    def text_similarity(self, caption_text_input_ids, caption_text_attention_mask, class_text_input_ids,
                        class_text_attention_mask) -> torch.Tensor:
        """Rule A: `(B, K)` mean cosine between the `m` captions of each video `(B, m, L)` and K class prompts."""
        if caption_text_input_ids.ndim != 3:
            raise ValueError("caption_text_input_ids must be (batch, captions_per_video, length), got shape "
                             f"{tuple(caption_text_input_ids.shape)}")
        self._require_retriever("text_similarity")
        batch, per_video, length = caption_text_input_ids.shape
        mask = None if caption_text_attention_mask is None else caption_text_attention_mask.reshape(-1, length)
        captions = clip_text_embeddings(self.retriever, caption_text_input_ids.reshape(-1, length), mask)
        classes = clip_text_embeddings(self.retriever, class_text_input_ids, class_text_attention_mask)
        return (captions @ classes.T).reshape(batch, per_video, -1).mean(1)

    @can_return_tuple
    def forward(self, pixel_values, class_input_ids=None, class_attention_mask=None, class_labels=None,
                class_text_input_ids=None, class_text_attention_mask=None, caption_text_input_ids=None,
                caption_text_attention_mask=None, scoring=None) -> RESTZeroShotOutput:
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch, num_frames, 3, H, W)`): the videos.
            class_input_ids, class_attention_mask, class_labels (`(num_classes, length)`): class prompts in the
                captioner's tokens (Rule B; labels mark the scored tokens).
            class_text_input_ids, class_text_attention_mask (`(num_classes, length)`): class prompts in CLIP's
                tokens (Rule A).
            caption_text_input_ids, caption_text_attention_mask (`(batch, captions_per_video, length)`): the
                generated captions of each video in CLIP's tokens (Rule A).
            scoring (`str`, *optional*): `"text_similarity"`, `"likelihood"` or `"combined"` (default: config).
        """
        self._check_video(pixel_values)
        scoring = scoring or self.config.scoring
        if scoring not in ("text_similarity", "likelihood", "combined"):
            raise ValueError(f"scoring must be text_similarity, likelihood or combined, got {scoring!r}")
        similarity = likelihood = None
        if scoring in ("text_similarity", "combined"):
            self._require_retriever(scoring)
            if caption_text_input_ids is None or class_text_input_ids is None:
                raise ValueError(f"scoring={scoring!r} needs caption_text_input_ids and class_text_input_ids")
            if caption_text_input_ids.shape[0] != pixel_values.shape[0]:
                raise ValueError(f"caption_text_input_ids holds captions of {caption_text_input_ids.shape[0]} "
                                 f"videos, pixel_values {pixel_values.shape[0]}")
            if class_text_input_ids.shape[0] == 0:
                raise ValueError("class_text_input_ids is empty: give at least one candidate label")
            similarity = self.text_similarity(caption_text_input_ids, caption_text_attention_mask,
                                              class_text_input_ids, class_text_attention_mask)
        if scoring in ("likelihood", "combined"):
            if class_input_ids is None or class_input_ids.shape[0] == 0:
                raise ValueError(f"scoring={scoring!r} needs class_input_ids with at least one candidate label")
            likelihood = self.score_texts(pixel_values, class_input_ids, class_attention_mask, class_labels)
        if scoring == "combined":
            alpha = self.config.combined_alpha
            logits = alpha * zscore(similarity) + (1 - alpha) * zscore(likelihood)
        else:
            logits = similarity if scoring == "text_similarity" else likelihood
        return RESTZeroShotOutput(logits=logits, text_similarity_scores=similarity, likelihood_scores=likelihood)


__all__ = [
    "RESTCaptioningOutput",
    "RESTForVideoCaptioning",
    "RESTForZeroShotVideoClassification",
    "RESTPreTrainedModel",
    "RESTZeroShotOutput",
    "build_captioner",
    "interpolate_temporal_embeddings",
    "is_temporal_embedding",
    "resize_temporal_embeddings",
    "sequence_log_likelihood",
    "zscore",
]
