"""BLIP as a video captioner for REST: transformers' `BlipForConditionalGeneration`, unchanged, fed T frames.

BLIP captions one image: its BERT text decoder cross-attends to the ViT tokens of the image. `RESTBlipVideoCaptioner`
runs the ViT on every frame, adds a learnable temporal embedding per frame (zero at start, so the video model starts
as the image model, as GIT's `img_temporal_embedding` does) and fuses the frames into the cross-attention memory
(`RESTConfig.blip_frame_fusion`: `concat` T*P tokens, default; `mean` over time; `middle` frame only).

As in the original BLIP (and BLIP's own `generate`), the first text token is always the decoder BOS (`[DEC]`), in
training and scoring too, so teacher forcing and generation condition on the same start token.
"""

import torch
from torch import nn
from transformers import BlipConfig, BlipForConditionalGeneration
from transformers.modeling_outputs import CausalLMOutputWithCrossAttentions


class RESTBlipVideoCaptioner(nn.Module):
    """`BlipForConditionalGeneration` (as `.blip`, weights and keys unchanged) over `(B, T, 3, H, W)` videos.

    Args:
        config: the `BlipConfig`.
        num_frames: T, the number of temporal embeddings.
        frame_fusion: `"concat"`, `"mean"` or `"middle"` (see `RESTConfig.blip_frame_fusion`).
    """

    def __init__(self, config: BlipConfig, num_frames: int, frame_fusion: str = "concat"):
        super().__init__()
        if frame_fusion not in ("concat", "mean", "middle"):
            raise ValueError(f"frame_fusion must be concat, mean or middle, got {frame_fusion!r}")
        self.blip = BlipForConditionalGeneration(config)
        self.frame_fusion = frame_fusion
        # a PreTrainedModel parent gathers tied weights and device-map hints from its *direct* children only: pass
        # BLIP's up (else the decoder's tied output projection is not re-tied by from_pretrained)
        self.all_tied_weights_keys = {f"blip.{k}": f"blip.{v}" for k, v in self.blip.all_tied_weights_keys.items()}
        self._no_split_modules = set(self.blip._no_split_modules or ())
        # (T, 1, D): one vector per frame, broadcast over its tokens; zeroed by RESTPreTrainedModel._init_weights
        self.temporal_embedding = nn.Parameter(torch.zeros(num_frames, 1, config.vision_config.hidden_size))

    @property
    def text_config(self):
        return self.blip.config.text_config

    def encode_video(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """`(B, T, 3, H, W)` -> the decoder's cross-attention memory `(B, M, D)` (M = T*P for concat, else P)."""
        batch, frames = pixel_values.shape[:2]
        vision = self.blip.vision_model
        if self.frame_fusion == "middle":
            return vision(pixel_values=pixel_values[:, frames // 2]).last_hidden_state
        tokens = vision(pixel_values=pixel_values.flatten(0, 1)).last_hidden_state.unflatten(0, (batch, frames))
        tokens = tokens + self.temporal_embedding[:frames].to(tokens.dtype)
        return tokens.flatten(1, 2) if self.frame_fusion == "concat" else tokens.mean(1)

    def _with_bos(self, input_ids: torch.Tensor) -> torch.Tensor:
        input_ids = input_ids.clone()
        input_ids[:, 0] = self.text_config.bos_token_id
        return input_ids

    def forward(self, pixel_values=None, input_ids=None, attention_mask=None, cache=None, use_cache=None,
                encoder_hidden_states=None) -> CausalLMOutputWithCrossAttentions:
        """Decoder logits for `input_ids (N, L)` given videos (or a precomputed memory `encoder_hidden_states`);
        a memory of batch 1 is shared by all N texts. `cache` continues a decoding (then `input_ids` holds only the
        new tokens and keeps its first token)."""
        memory = self.encode_video(pixel_values) if encoder_hidden_states is None else encoder_hidden_states
        if memory.shape[0] == 1 and input_ids.shape[0] > 1:
            memory = memory.expand(input_ids.shape[0], -1, -1)
        if cache is None:
            input_ids = self._with_bos(input_ids)
        return self.blip.text_decoder(input_ids=input_ids, attention_mask=attention_mask,
                                      encoder_hidden_states=memory, cache=cache, use_cache=use_cache,
                                      return_dict=True)

    @torch.no_grad()
    def generate(self, pixel_values, input_ids=None, attention_mask=None, **generate_kwargs) -> torch.LongTensor:
        """Caption ids `(B * num_return_sequences, length)`, starting with BOS (and the prompt, if `input_ids`)."""
        memory = self.encode_video(pixel_values)
        if input_ids is None:
            input_ids = torch.full((len(memory), 1), self.text_config.bos_token_id, device=memory.device)
        input_ids = self._with_bos(input_ids)
        memory_mask = torch.ones(memory.shape[:-1], dtype=torch.long, device=memory.device)
        return self.blip.text_decoder.generate(
            input_ids=input_ids, attention_mask=attention_mask, encoder_hidden_states=memory,
            encoder_attention_mask=memory_mask, eos_token_id=self.text_config.sep_token_id,
            pad_token_id=self.text_config.pad_token_id, **generate_kwargs)


__all__ = ["RESTBlipVideoCaptioner"]
