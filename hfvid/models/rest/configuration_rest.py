"""Configuration of REST: a generative video captioner (GIT, or BLIP) plus a CLIP retriever / text encoder."""

from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

from ...configuration_utils import check_choice, check_positive, hfvid_config

CAPTIONER_TYPES = ("git", "blip")
BLIP_FRAME_FUSIONS = ("concat", "mean", "middle")
SCORING_RULES = ("text_similarity", "likelihood", "combined")
DEFAULT_GENERATION_KWARGS = {"num_beams": 3, "max_new_tokens": 30, "min_new_tokens": 5}


@hfvid_config
class RESTConfig(PreTrainedConfig):
    r"""
    Configuration of [`RESTForVideoCaptioning`] and [`RESTForZeroShotVideoClassification`] (REST: REtrieve &
    Self-Train for generative action recognition, Bulat et al., arXiv:2209.15000).

    REST composes two sub-configs: the generative captioner (`GitConfig`, whose `num_image_with_embedding` temporal
    embeddings make it a video model, or `BlipConfig`, an image captioner that REST turns into a video one, see
    `blip_frame_fusion`) and the CLIP model used to retrieve pseudo-captions and, for zero-shot
    classification by text similarity (Rule A), to embed captions and class prompts. Values marked *[D]* are our
    engineering defaults, not the paper's (the paper's schedule was not recoverable).

    Args:
        captioner_config (`dict`, `GitConfig` or `BlipConfig`, *optional*): the captioner (default: GIT-base or
            BLIP-base sizes, after `captioner_type`).
        retriever_config (`dict` or `CLIPConfig`, *optional*): the CLIP retriever / text encoder of Rule A. `None`
            (default): no retriever, the model scores by likelihood (Rule B) only. A captioner
            ([`RESTForVideoCaptioning`]) holds no CLIP, so its config (and checkpoints) never carry one: a zero-shot
            checkpoint saved from it then loads with no missing weights.
        captioner_type (`str`, *optional*, defaults to `"git"`): the captioner family: `"git"`
            (`GitForCausalLM`, video-native) or `"blip"` (`BlipForConditionalGeneration`, an image captioner).
        num_frames (`int`, *optional*, defaults to 8): frames T per video *[D]*. GIT: sets the captioner's
            `num_image_with_embedding` (they must agree: GIT sizes its visual prefix from it); BLIP: the number of
            temporal embeddings.
        blip_frame_fusion (`str`, *optional*, defaults to `"concat"`): how BLIP (one image per caption) sees T
            frames *[D, ours]*. Every mode but `"middle"` runs the ViT on each frame and adds a zero-initialised
            temporal embedding per frame. `"concat"` (default): the T frames' tokens, concatenated, are the decoder's
            cross-attention memory (`T * P` tokens: every frame and, once the temporal embeddings train, their
            order; spec section 3.1). `"mean"`: the tokens averaged over time (`P` tokens, order-blind).
            `"middle"`: the middle frame only (one ViT pass, no motion). Ignored by GIT.
        prompt (`str`, *optional*, defaults to `""`): caption prefix (GIT: none; BLIP: `"a picture of "`); its
            tokens are never trained on and are stripped from generated captions.
        class_template (`str`, *optional*, defaults to `"a person {}"`): class prompt template *[D]*.
        scoring (`str`, *optional*): zero-shot rule: `"text_similarity"` (Rule A, CLIP similarity of generated
            captions and class prompts), `"likelihood"` (Rule B, length-normalised log-likelihood of each class
            prompt) or `"combined"` (Rule C). Default: `"text_similarity"` with a retriever, `"likelihood"` without;
            Rules A and C need `retriever_config`.
        combined_alpha (`float`, *optional*, defaults to 0.5): Rule C weight of the z-scored Rule A scores *[D]*.
        num_eval_captions (`int`, *optional*, defaults to 5): captions per video for Rule A (1 beam + samples) *[D]*.
        generation_kwargs (`dict`, *optional*): defaults of `generate` (num_beams 3, max_new_tokens 30,
            min_new_tokens 5) *[D, BLIP CapFilt]*.
        retrieval_top_k (`int`, *optional*, defaults to 8): pseudo-captions retrieved per video *[D]*.
        retrieval_min_sim (`float`, *optional*, defaults to 0.2): minimum cosine of a retrieved caption *[D]*.
        retrieval_dedup_threshold (`float`, *optional*, defaults to 0.95): a caption whose text embedding has a
            cosine above this with an already-selected one is skipped *[D]*.
        label_smoothing (`float`, *optional*, defaults to 0.0): of the caption loss (BLIP's fine-tune used 0.1) *[D]*.

    Example:

    ```python
    >>> from hfvid import RESTConfig
    >>> config = RESTConfig(num_frames=4, captioner_config={"hidden_size": 32, "num_hidden_layers": 2,
    ...     "num_attention_heads": 2, "intermediate_size": 37, "vision_config": {"hidden_size": 32,
    ...     "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 37, "image_size": 32,
    ...     "patch_size": 8}})
    >>> config.captioner_config.num_image_with_embedding
    4
    ```
    """

    model_type = "hfvid-rest"
    sub_configs_defaults = {
        "captioner_config": SubConfigSpec(config_class=AutoConfig, model_type="git"),
        "retriever_config": SubConfigSpec(config_class=AutoConfig, model_type="clip", optional=True),
    }

    captioner_config: dict | PreTrainedConfig | None = None
    retriever_config: dict | PreTrainedConfig | None = None
    captioner_type: str = "git"
    num_frames: int = 8
    blip_frame_fusion: str = "concat"
    prompt: str = ""
    class_template: str = "a person {}"
    scoring: str | None = None
    combined_alpha: float = 0.5
    num_eval_captions: int = 5
    generation_kwargs: dict | None = None
    retrieval_top_k: int = 8
    retrieval_min_sim: float = 0.2
    retrieval_dedup_threshold: float = 0.95
    label_smoothing: float = 0.0

    def __post_init__(self, **kwargs):
        check_choice("captioner_type", self.captioner_type, CAPTIONER_TYPES)
        check_choice("blip_frame_fusion", self.blip_frame_fusion, BLIP_FRAME_FUSIONS)
        if self.scoring is None:
            self.scoring = "likelihood" if self.retriever_config is None else "text_similarity"
        check_choice("scoring", self.scoring, SCORING_RULES)
        if self.retriever_config is None and self.scoring != "likelihood":
            raise ValueError(f"scoring={self.scoring!r} needs a CLIP retriever_config (Rules A and C embed captions "
                             "with it); without one use scoring='likelihood'")
        for name in ("num_frames", "num_eval_captions", "retrieval_top_k"):
            check_positive(name, getattr(self, name))
        if not 0.0 <= self.combined_alpha <= 1.0:
            raise ValueError(f"combined_alpha must be in [0, 1], got {self.combined_alpha}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if not -1.0 <= self.retrieval_min_sim <= 1.0 or not -1.0 <= self.retrieval_dedup_threshold <= 1.0:
            raise ValueError("retrieval_min_sim and retrieval_dedup_threshold are cosines in [-1, 1], got "
                             f"{self.retrieval_min_sim} and {self.retrieval_dedup_threshold}")
        if "{}" not in self.class_template:
            raise ValueError(f"class_template must contain '{{}}' for the class name, got {self.class_template!r}")
        if self.generation_kwargs is None:
            self.generation_kwargs = dict(DEFAULT_GENERATION_KWARGS)
        if self.captioner_type == "blip":
            if self.captioner_config is None:
                self.captioner_config = {"model_type": "blip"}
            elif isinstance(self.captioner_config, dict):
                self.captioner_config = {"model_type": "blip", **self.captioner_config}
        elif isinstance(self.captioner_config, dict):
            self.captioner_config = {"num_image_with_embedding": self.num_frames, **self.captioner_config}
        super().__post_init__(**kwargs)
        captioner = self.captioner_config
        if captioner.model_type != self.captioner_type:
            expected = {"git": "GitConfig", "blip": "BlipConfig"}[self.captioner_type]
            raise ValueError(f"captioner_config must be a {expected} (model_type {self.captioner_type!r}) for "
                             f"captioner_type={self.captioner_type!r}, got model_type {captioner.model_type!r}")
        if self.captioner_type == "git" and captioner.num_image_with_embedding is None:
            captioner.num_image_with_embedding = self.num_frames
        if self.captioner_type == "git" and captioner.num_image_with_embedding != self.num_frames:
            raise ValueError(
                f"captioner_config.num_image_with_embedding={captioner.num_image_with_embedding} must equal "
                f"num_frames={self.num_frames}: GIT sizes its visual prefix from it"
            )
        if self.retriever_config is not None and self.retriever_config.model_type != "clip":
            raise ValueError(f"retriever_config must be a CLIPConfig, got {self.retriever_config.model_type!r}")


__all__ = ["RESTConfig"]
