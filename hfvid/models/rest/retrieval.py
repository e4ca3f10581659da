"""REST's pseudo-caption pool and CLIP retrieval: normalise and de-duplicate captions, top-k with filters.

For each video REST retrieves the ``k`` captions of the *whole* pool nearest to the video's embedding (cosine),
not only those generated from its own frames: captions written for other videos of the same activity are often
more action-specific, which is what makes the retrieved training set diverse (spec section 3.4).
"""

import re

import numpy as np
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
                  dedup_threshold: float | None = None, query_chunk_size: int = 1024, pool_chunk_size: int = 32768,
                  candidates: int | None = None, backend: str = "torch"):
    """Per video, the ``k`` captions with the largest cosine similarity, best first, in bounded memory.

    The pool is scanned in chunks with a running top-``candidates`` per video (``torch.topk`` over each chunk,
    merged with the running set), so neither the full ``V x N`` similarity matrix nor a sort of it is ever built:
    memory is about ``query_chunk_size x pool_chunk_size`` floats plus the ``(V, candidates)`` running set (and,
    with ``dedup_threshold``, their ``query_chunk_size x candidates x D`` embeddings); the pool is not copied. The
    filters then walk each video's candidates in rank order. Runs on the device of ``caption_embeds``.

    Args:
        video_embeds (`(V, D)` tensor), caption_embeds (`(N, D)` tensor): embeddings (L2-normalised here).
        k: captions per video.
        min_sim: drop captions whose cosine with the video is below it.
        dedup_threshold: skip a caption whose cosine with an already-selected caption exceeds it.
        query_chunk_size, pool_chunk_size: videos and captions scored at once; the result does not depend on them.
        candidates: captions examined per video (default `max(4k, k + 32)`); with filters fewer than `k` may be
            returned when every candidate is filtered out.
        backend: `"torch"` (default) or `"faiss"` (an exact `IndexFlatIP` on the CPU, used only when asked for and
            `faiss` is installed; rows with a tie at the candidate boundary are redone with `"torch"`).

    Returns:
        `(indices, scores)`: per video a list of pool indices and a list of their cosines. Tie rule: equal cosines
        rank by the lower pool index, at every stage (the candidate set and the order), as a stable full sort would.
    """
    video_embeds, caption_embeds = torch.as_tensor(video_embeds), torch.as_tensor(caption_embeds)
    if caption_embeds.ndim != 2 or caption_embeds.shape[0] == 0:
        raise ValueError("the caption pool is empty: caption_embeds must be a non-empty (N, D) tensor")
    if video_embeds.ndim != 2 or video_embeds.shape[1] != caption_embeds.shape[1]:
        raise ValueError(f"video_embeds must be (V, {caption_embeds.shape[1]}), got {tuple(video_embeds.shape)}")
    if k < 1 or query_chunk_size < 1 or pool_chunk_size < 1:
        raise ValueError(f"k, query_chunk_size and pool_chunk_size must be >= 1, got {k}, {query_chunk_size} and "
                         f"{pool_chunk_size}")
    if backend not in ("torch", "faiss"):
        raise ValueError(f"backend must be 'torch' or 'faiss', got {backend!r}")
    pool = caption_embeds  # normalised chunk by chunk: no pool-sized copy
    videos = F.normalize(video_embeds.float().to(pool.device), dim=-1)
    if not torch.isfinite(videos).all():
        raise ValueError("video_embeds must be finite (no NaN/inf)")
    examine = min(pool.shape[0], candidates or max(4 * k, k + 32))
    index = _faiss_index(pool) if backend == "faiss" else None
    all_indices, all_scores = [], []
    for start in range(0, videos.shape[0], query_chunk_size):
        queries = videos[start:start + query_chunk_size]
        if index is not None:
            scores, indices = _faiss_candidates(index, queries, pool, examine, pool_chunk_size)
        else:
            scores, indices = _running_topk(queries, pool, examine, pool_chunk_size)
        chosen = _select(scores, indices, pool, k, min_sim, dedup_threshold)
        for row_scores, row_indices, row_chosen in zip(scores.tolist(), indices.tolist(), chosen.tolist()):
            all_indices.append([i for i, keep in zip(row_indices, row_chosen) if keep])
            all_scores.append([s for s, keep in zip(row_scores, row_chosen) if keep])
    return all_indices, all_scores


def _rank(scores, indices, width: int):
    """The best ``width`` of a small candidate set, ordered by (score descending, pool index ascending)."""
    order = indices.argsort(dim=1)  # indices are distinct, so this order is unique
    scores, indices = scores.gather(1, order), indices.gather(1, order)
    order = scores.argsort(dim=1, descending=True, stable=True)[:, :width]
    return scores.gather(1, order), indices.gather(1, order)


def _chunk_topk(sims, width: int):
    """Columns of the ``width`` largest entries per row of ``sims``, equal values taken by the lower column.

    ``torch.topk`` picks arbitrarily among values tied with the ``width``-th largest; rows where such a tie crosses
    the boundary (rare on real embeddings) are redone exactly: all entries above it plus the first tied ones."""
    values, columns = sims.topk(width, dim=1)
    kth = values[:, -1:]
    ambiguous = ((sims >= kth).sum(1) > width).nonzero().squeeze(1)
    if len(ambiguous):
        rows, threshold = sims[ambiguous], kth[ambiguous]
        above, tied = rows > threshold, rows == threshold
        need = width - above.sum(1, keepdim=True)
        keep = above | (tied & (tied.cumsum(1, dtype=torch.int32) <= need))
        columns[ambiguous] = keep.nonzero()[:, 1].view(len(ambiguous), width)  # row-major: ascending columns
        values[ambiguous] = rows.gather(1, columns[ambiguous])
    return values, columns


def _running_topk(queries, pool, width: int, pool_chunk_size: int):
    """Exact top-``width`` pool entries per query (tie rule of `_rank`) scanning the pool in chunks."""
    best_scores = queries.new_empty(queries.shape[0], 0)
    best_indices = torch.empty(queries.shape[0], 0, dtype=torch.long, device=queries.device)
    for offset in range(0, pool.shape[0], pool_chunk_size):
        sims = queries @ F.normalize(pool[offset:offset + pool_chunk_size].float(), dim=-1).T
        if not torch.isfinite(sims).all():
            raise ValueError(f"caption_embeds must be finite (no NaN/inf): rows {offset}-{offset + sims.shape[1] - 1}")
        scores, columns = _chunk_topk(sims, min(width, sims.shape[1]))
        best_scores, best_indices = _rank(torch.cat([best_scores, scores], 1),
                                          torch.cat([best_indices, columns + offset], 1), width)
    return best_scores, best_indices


def _faiss_index(pool):
    """An exact faiss inner-product index (`IndexFlatIP`, CPU) over the L2-normalised pool."""
    try:
        import faiss
    except ImportError as error:
        raise ImportError("backend='faiss' needs the faiss package (pip install faiss-cpu)") from error
    vectors = F.normalize(pool.float(), dim=-1).cpu().numpy()  # faiss holds its own copy of the pool anyway
    if not np.isfinite(vectors).all():
        raise ValueError("caption_embeds must be finite (no NaN/inf)")
    index = faiss.IndexFlatIP(pool.shape[1])
    index.add(vectors)
    return index


def _faiss_candidates(index, queries, pool, width: int, pool_chunk_size: int):
    """Top-``width`` candidates from the faiss index; rows with a tie across the boundary are redone with torch."""
    search = min(width + 1, pool.shape[0])  # one more, to see a tie across the boundary
    scores, indices = index.search(queries.cpu().numpy(), search)
    scores, indices = torch.from_numpy(scores).to(queries.device), torch.from_numpy(indices).to(queries.device)
    redo = (scores[:, width - 1] == scores[:, width]).nonzero().squeeze(1) if search > width else []
    scores, indices = _rank(scores, indices, width)
    if len(redo):
        scores[redo], indices[redo] = _running_topk(queries[redo], pool, width, pool_chunk_size)
    return scores, indices


def _select(scores, indices, pool, k: int, min_sim, dedup_threshold):
    """Boolean `(Q, C)` mask of the kept candidates: walking each row in rank order, keep a caption unless it is
    below ``min_sim``, too close (> ``dedup_threshold``) to an already kept one, or ``k`` are already kept."""
    keep = torch.zeros_like(indices, dtype=torch.bool)
    kept = torch.zeros(indices.shape[0], dtype=torch.long, device=indices.device)
    gram = None
    if dedup_threshold is not None:
        embeds = F.normalize(pool[indices].float(), dim=-1)  # (Q, C, D)
        gram = embeds @ embeds.transpose(1, 2)
    for j in range(indices.shape[1]):
        ok = kept < k
        if min_sim is not None:
            ok &= scores[:, j] >= min_sim
        if gram is not None and j:
            ok &= ~(keep[:, :j] & (gram[:, :j, j] > dedup_threshold)).any(1)
        keep[:, j] = ok
        kept += ok
    return keep


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
