"""Configuration of GANnotation (Sanchez & Valstar, FG 2020): generator, critic and loss weights in one config."""

from transformers import PreTrainedConfig

from ...configuration_utils import check_choice, check_positive, hfvid_config

LANDMARK_ENCODINGS = ("heatmap", "legacy_heatmap", "edge")
INPUT_RANGES = ("-1_1", "0_1")
GAN_TYPES = ("wgan-gp", "hinge")


@hfvid_config
class GANnotationConfig(PreTrainedConfig):
    r"""
    Configuration of [`GANnotationGenerator`] and [`GANnotationDiscriminator`]: landmark-guided face-to-face
    synthesis trained with a recurrent cycle consistency loss (Sanchez & Valstar, FG 2020, arXiv:2004.07165).

    Defaults are the FG 2020 generator of the official `model.py` (colour + mask branches, 66 heatmaps) and the
    loss weights of its `Train_options.py`. Values the paper text could not confirm are marked *[unverified]*.

    Args:
        num_landmarks (`int`, *optional*, defaults to 66): points of the target shape (66 = iBUG 68 without the
            inner mouth corners 60 and 64, the released model's scheme; 68 also supported).
        landmark_encoding (`str`, *optional*, defaults to `"heatmap"`): how target points become input maps:
            `"heatmap"` (one continuous Gaussian per point, ours), `"legacy_heatmap"` (the released model's 7x7
            patches at floored 1-based positions) or `"edge"` (3-channel polylines of the training code).
        heatmap_sigma (`float`, *optional*, defaults to 1.75): Gaussian std in pixels (released maps: 1.75 px).
        in_channels (`int`, *optional*, defaults to 3): image channels.
        base_channels (`int`, *optional*, defaults to 64): width of the first generator convolution.
        num_downsamples (`int`, *optional*, defaults to 2): stride-2 encoder convolutions (and decoder upsamplings).
        num_res_blocks (`int`, *optional*, defaults to 6): residual blocks of the bottleneck.
        use_mask (`bool`, *optional*, defaults to `True`): FG 2020 design `Y = M * A + (1 - M) * C`; `False` gives
            the training-code variant whose output is the colour branch alone.
        image_size (`int`, *optional*, defaults to 128): side of the square face crops.
        input_range (`str`, *optional*, defaults to `"-1_1"`): range of the source image fed to the generator;
            `"0_1"` only for converted legacy weights (the demo fed [0, 1] and read the output as [-1, 1]).
        critic_base_channels (`int`, *optional*, defaults to 64): width of the critic's first convolution.
        critic_num_layers (`int`, *optional*, defaults to 6): stride-2 critic convolutions (output side
            `image_size / 2**critic_num_layers`).
        critic_conditional (`bool`, *optional*, defaults to `False`): concatenate the target maps to the critic's
            input (GANnotation's critic is unconditional; a conditional one is for unpaired data).
        gan_type (`str`, *optional*, defaults to `"wgan-gp"`): `"wgan-gp"` or `"hinge"` adversarial loss.
        lambda_adv (`float`, *optional*, defaults to 0.01): weight of the generator's adversarial term.
        lambda_rec (`float`, *optional*, defaults to 1.0): weight of `||G(A, h_B) - B||_1`.
        lambda_cyc (`float`, *optional*, defaults to 1.0): weight of the cycle term `||G(G(A, h_B), h_A) - A||_1`.
        lambda_rcc (`float`, *optional*, defaults to 1.0): weight of the recurrent cycle consistency term
            `||G(G(A, h_B), h_C) - G(A, h_C)||_1` (the paper's contribution).
        lambda_perc (`float`, *optional*, defaults to 0.1): weight of the perceptual (feature MSE) term.
        lambda_tv (`float`, *optional*, defaults to 1e-8): weight of the total-variation term.
        gp_weight (`float`, *optional*, defaults to 10.0): weight of the WGAN gradient penalty.
        initializer_range (`float`, *optional*, defaults to 0.02): std of the normal weight initialisation.

    Example:

    ```python
    >>> from hfvid import GANnotationConfig, GANnotationGenerator
    >>> config = GANnotationConfig(num_landmarks=5, base_channels=8, num_res_blocks=1, image_size=32,
    ...                            critic_num_layers=3)
    >>> generator = GANnotationGenerator(config)
    ```
    """

    model_type = "hfvid-gannotation"

    num_landmarks: int = 66
    landmark_encoding: str = "heatmap"
    heatmap_sigma: float = 1.75
    in_channels: int = 3
    base_channels: int = 64
    num_downsamples: int = 2
    num_res_blocks: int = 6
    use_mask: bool = True
    image_size: int = 128
    input_range: str = "-1_1"
    critic_base_channels: int = 64
    critic_num_layers: int = 6
    critic_conditional: bool = False
    gan_type: str = "wgan-gp"
    lambda_adv: float = 0.01
    lambda_rec: float = 1.0
    lambda_cyc: float = 1.0
    lambda_rcc: float = 1.0
    lambda_perc: float = 0.1
    lambda_tv: float = 1e-8
    gp_weight: float = 10.0
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs):
        check_choice("landmark_encoding", self.landmark_encoding, LANDMARK_ENCODINGS)
        check_choice("input_range", self.input_range, INPUT_RANGES)
        check_choice("gan_type", self.gan_type, GAN_TYPES)
        for name in ("num_landmarks", "in_channels", "base_channels", "num_downsamples", "image_size",
                     "critic_base_channels", "critic_num_layers", "heatmap_sigma", "initializer_range"):
            check_positive(name, getattr(self, name))
        if self.num_res_blocks < 0:
            raise ValueError(f"num_res_blocks must be >= 0, got {self.num_res_blocks}")
        if self.landmark_encoding == "edge" and self.num_landmarks not in (66, 68):
            raise ValueError(f"landmark_encoding='edge' needs num_landmarks 66 or 68, got {self.num_landmarks}")
        if self.image_size % 2**self.num_downsamples:
            raise ValueError(f"image_size={self.image_size} must be divisible by 2**num_downsamples "
                             f"= {2**self.num_downsamples}")
        if self.image_size % 2**self.critic_num_layers:
            raise ValueError(f"image_size={self.image_size} must be divisible by 2**critic_num_layers "
                             f"= {2**self.critic_num_layers}")
        for name in ("lambda_adv", "lambda_rec", "lambda_cyc", "lambda_rcc", "lambda_perc", "lambda_tv", "gp_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        super().__post_init__(**kwargs)

    @property
    def num_map_channels(self) -> int:
        """Channels of the landmark maps: one per point, or 3 for edge maps."""
        return 3 if self.landmark_encoding == "edge" else self.num_landmarks


__all__ = ["GANnotationConfig"]
