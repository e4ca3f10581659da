"""REST's pseudo-caption pool and CLIP retrieval: normalise and de-duplicate captions, top-k with filters.

For each video REST retrieves the ``k`` captions of the *whole* pool nearest to the video's embedding (cosine),
not only those generated from its own frames: captions written for other videos of the same activity are often
more action-specific, which is what makes the retrieved training set diverse (spec section 3.4).
"""

import re

import torch
import torch.nn.functional as F

_SPACES = re.compile(r"\s+")


def normalize_caption(text: str, prompt: str = "") -> str:
    """Lower-case, strip, collapse whitespace and drop the captioner's prompt prefix ("a picture of a dog" -> "a dog")."""
    text = _SPACES.sub(" ", str(text).lower()).strip()
    prompt = _SPACES.sub(" ", prompt.lower()).strip()
    if prompt and (text == prompt or text.startswith(prompt + " ")):
        text = text[len(prompt):].strip()
    return text


def build_caption_pool(rows, prompt: str = ""):
    """Rows ``{"video_id", "frame_idx", "caption", "source"}`` -> a ``datasets.Dataset`` pool, normalised and
    de-duplicated per video (empty captions dropped). Raises ``ValueError`` when nothing is left."""
    import datasets

    seen, kept = set(), []
    for row in rows:
        caption = normalize_caption(row["caption"], prompt)
        key = (str(row["video_id"]), caption)
        if caption and key not in seen:
            seen.add(key)
            kept.append({"video_id": key[0], "frame_idx": int(row.get("frame_idx", -1)), "caption": caption,
                         "source": str(row.get("source", "unknown"))})
    if not kept:
        raise ValueError("the caption pool is empty: no non-empty pseudo-caption to retrieve from")
    return datasets.Dataset.from_list(kept, features=pool_features())


def pool_features():
    """``datasets.Features`` of a pseudo-caption pool."""
    import datasets

    return datasets.Features({"video_id": datasets.Value("string"), "frame_idx": datasets.Value("int32"),
                              "caption": datasets.Value("string"), "source": datasets.Value("string")})


def unique_captions(captions) -> list[str]:
    """The distinct captions of a pool in first-seen order (what the index embeds)."""
    return list(dict.fromkeys(captions))


@torch.no_grad()
def retrieve_topk(video_embeds, caption_embeds, k: int, min_sim: float | None = None,
                  dedup_threshold: float | None = None, chunk_size: int = 1024, candidates: int | None = None):
    """Per video, the ``k`` captions with the largest cosine similarity, best first.

    Args:
        video_embeds (`(V, D)` tensor), caption_embeds (`(N, D)` tensor): embeddings (L2-normalised here).
        k: captions per video.
        min_sim: drop captions whose cosine with the video is below it.
        dedup_threshold: skip a caption whose cosine with an already-selected caption exceeds it.
        chunk_size: videos scored at once (memory `chunk_size x N`); the result does not depend on it.
        candidates: captions examined per video (default `max(4k, k + 32)`); with filters fewer than `k` may be
            returned when every candidate is filtered out.

    Returns:
        `(indices, scores)`: per video a list of pool indices and a list of their cosines. Ties are broken by the
        lower pool index.
    """
    video_embeds, caption_embeds = torch.as_tensor(video_embeds), torch.as_tensor(caption_embeds)
    if caption_embeds.ndim != 2 or caption_embeds.shape[0] == 0:
        raise ValueError("the caption pool is empty: caption_embeds must be a non-empty (N, D) tensor")
    if video_embeds.ndim != 2 or video_embeds.shape[1] != caption_embeds.shape[1]:
        raise ValueError(f"video_embeds must be (V, {caption_embeds.shape[1]}), got {tuple(video_embeds.shape)}")
    if k < 1 or chunk_size < 1:
        raise ValueError(f"k and chunk_size must be >= 1, got {k} and {chunk_size}")
    videos = F.normalize(video_embeds.float(), dim=-1)
    pool = F.normalize(caption_embeds.float(), dim=-1)
    examine = min(pool.shape[0], candidates or max(4 * k, k + 32))
    all_indices, all_scores = [], []
    for start in range(0, videos.shape[0], chunk_size):
        sims = videos[start:start + chunk_size] @ pool.T
        order = torch.sort(sims, dim=1, descending=True, stable=True).indices[:, :examine]
        for row, ranked in zip(sims, order):
            chosen = []
            for index in ranked.tolist():
                if min_sim is not None and row[index] < min_sim:
                    break  # ranked: every later caption is below the threshold too
                if dedup_threshold is not None and chosen and (pool[chosen] @ pool[index]).max() > dedup_threshold:
                    continue
                chosen.append(index)
                if len(chosen) == k:
                    break
            all_indices.append(chosen)
            all_scores.append([float(row[i]) for i in chosen])
    return all_indices, all_scores


__all__ = ["build_caption_pool", "normalize_caption", "pool_features", "retrieve_topk", "unique_captions"]


def clip_text_embeddings(clip_model, input_ids, attention_mask=None) -> torch.Tensor:
    """L2-normalised CLIP text embeddings `(N, D)` (transformers 5 returns the projection in `pooler_output`)."""
    features = clip_model.get_text_features(input_ids=input_ids, attention_mask=attention_mask)
    features = getattr(features, "pooler_output", features)
    return F.normalize(features.float(), dim=-1)


def clip_video_embeddings(clip_model, pixel_values) -> torch.Tensor:
    """`e_v = normalize(mean_t normalize(CLIP_img(x_t)))` for `pixel_values (B, T, 3, H, W)` -> `(B, D)`."""
    if pixel_values.ndim != 5:
        raise ValueError(f"pixel_values must be (batch, frames, 3, H, W), got {tuple(pixel_values.shape)}")
    batch, frames = pixel_values.shape[:2]
    features = clip_model.get_image_features(pixel_values=pixel_values.flatten(0, 1))
    features = F.normalize(getattr(features, "pooler_output", features).float(), dim=-1)
    return F.normalize(features.reshape(batch, frames, -1).mean(1), dim=-1)


__all__ += ["clip_text_embeddings", "clip_video_embeddings"]
