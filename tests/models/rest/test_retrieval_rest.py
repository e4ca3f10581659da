"""REST retrieval and caption-pool hygiene on hand-built embeddings."""

import pytest
import torch

from hfvid.models.rest.retrieval import build_caption_pool, normalize_caption, retrieve_topk


def test_topk_order_ties_threshold_and_dedup():
    pool = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.6, 0.8], [0.0, 1.0], [0.8, 0.6], [-1.0, 0.0]])
    video = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    indices, scores = retrieve_topk(video, pool, k=3)
    assert indices == [[0, 1, 4], [3, 2, 1]]  # analytic order; the tie 1 == 4 goes to the lower index
    torch.testing.assert_close(torch.tensor(scores[0]), torch.tensor([1.0, 0.8, 0.8]))
    indices, _ = retrieve_topk(video, pool, k=3, dedup_threshold=0.95)
    assert indices[0] == [0, 1, 3]  # 4 duplicates 1 (same embedding); 2 is at cosine 0.96 of 1: both skipped
    indices, scores = retrieve_topk(video, pool, k=5, min_sim=0.7)
    assert indices == [[0, 1, 4], [3, 2]] and min(min(s) for s in scores) >= 0.7


def test_chunked_equals_unchunked():
    generator = torch.Generator().manual_seed(0)
    videos, pool = torch.randn(37, 8, generator=generator), torch.randn(200, 8, generator=generator)
    full = retrieve_topk(videos, pool, k=5, min_sim=0.0, dedup_threshold=0.9, chunk_size=1000)
    chunked = retrieve_topk(videos, pool, k=5, min_sim=0.0, dedup_threshold=0.9, chunk_size=4)
    assert chunked[0] == full[0]
    for a, b in zip(chunked[1], full[1]):
        torch.testing.assert_close(torch.tensor(a), torch.tensor(b))


def test_pool_normalisation_and_errors():
    assert normalize_caption("a picture of a dog", prompt="a picture of ") == "a dog"
    assert normalize_caption("  A   dog ") == "a dog"
    pool = build_caption_pool([{"video_id": "v", "caption": "a picture of a dog"}, {"video_id": "v", "caption": "A dog"},
                               {"video_id": "w", "caption": "a dog"}], prompt="a picture of ")
    assert pool["caption"] == ["a dog", "a dog"] and pool["video_id"] == ["v", "w"]
    with pytest.raises(ValueError, match="empty"):
        build_caption_pool([{"video_id": "v", "caption": "  "}])
    with pytest.raises(ValueError, match="empty"):
        retrieve_topk(torch.ones(1, 4), torch.ones(0, 4), k=2)
    from hfvid.models.rest.self_training import RetrievedCaptionDataset

    with pytest.raises(ValueError, match=r"videos \[1\] have no retrieved caption"):  # a video left without captions
        RetrievedCaptionDataset(["a.mp4", "b.mp4"], [["a dog"], []], video_processor=None)
