"""The REST caption retrieval before issue 17, kept as the exact reference: the full video x pool similarity matrix
per query chunk, stably fully sorted, filters applied one caption at a time. ``test_retrieval_rest.py`` checks the
chunked running top-k against it and ``benchmarks/bench_rest_retrieval.py`` times it as the "old" path."""

import torch
import torch.nn.functional as F


def exact_retrieve(video_embeds, caption_embeds, k, min_sim=None, dedup_threshold=None, candidates=None,
                   chunk_size=1024):
    """Per video: (indices, scores) of up to ``k`` captions, most similar first (lower index wins ties), stopping
    below ``min_sim``, skipping a caption more similar than ``dedup_threshold`` to one already chosen, among the
    ``candidates`` (default ``max(4k, k + 32)``) most similar."""
    videos, pool = F.normalize(video_embeds.float(), dim=-1), F.normalize(caption_embeds.float(), dim=-1)
    examine = min(pool.shape[0], candidates or max(4 * k, k + 32))
    all_indices, all_scores = [], []
    for start in range(0, videos.shape[0], chunk_size):
        sims = videos[start:start + chunk_size] @ pool.T
        order = torch.sort(sims, dim=1, descending=True, stable=True).indices[:, :examine]
        for row, ranked in zip(sims, order):
            chosen = []
            for index in ranked.tolist():
                if min_sim is not None and row[index] < min_sim:
                    break
                if dedup_threshold is not None and chosen and (pool[chosen] @ pool[index]).max() > dedup_threshold:
                    continue
                chosen.append(index)
                if len(chosen) == k:
                    break
            all_indices.append(chosen)
            all_scores.append([float(row[i]) for i in chosen])
    return all_indices, all_scores
