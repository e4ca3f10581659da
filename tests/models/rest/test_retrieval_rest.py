"""REST retrieval and caption-pool hygiene on hand-built embeddings; chunked top-k equals the full-matrix result."""

import pytest
import torch
import torch.nn.functional as F

from hfvid.models.rest.retrieval import build_caption_pool, normalize_caption, retrieve_topk
from rest_retrieval_reference import exact_retrieve


def tied_embeddings(rows, seed, dim=8):
    """Rows with four entries of +-1 (norm 2): normalised entries are +-0.5 and every cosine is an exact multiple
    of 0.25, so cosines tie often and are bit-identical however the matrix product is blocked."""
    generator = torch.Generator().manual_seed(seed)
    embeds = torch.zeros(rows, dim)
    for row in embeds:
        columns = torch.randperm(dim, generator=generator)[:4]
        row[columns] = torch.randint(0, 2, (4,), generator=generator).float() * 2 - 1
    return embeds


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


@pytest.mark.parametrize("k, min_sim, dedup_threshold, candidates", [
    (1, None, None, None), (3, None, None, None), (5, 0.25, 0.5, None), (8, 0.0, 0.95, None),
    (4, None, 0.7, 6), (300, None, None, None), (300, -0.5, 0.95, None)])  # 300 > pool size
@pytest.mark.parametrize("query_chunk_size, pool_chunk_size", [(1000, 100_000), (5, 7), (1, 1), (4, 64)])
def test_chunked_equals_exact_with_ties(k, min_sim, dedup_threshold, candidates, query_chunk_size, pool_chunk_size):
    pool = torch.cat([tied_embeddings(150, seed=1), tied_embeddings(20, seed=1)])  # 20 exact duplicate captions
    pool = pool[torch.randperm(170, generator=torch.Generator().manual_seed(2))]
    pool = torch.cat([pool, pool[:33] * 3.0])  # 203 rows (not a multiple of any chunk), scaled duplicates
    videos = tied_embeddings(13, seed=3)
    expected = exact_retrieve(videos, pool, k, min_sim, dedup_threshold, candidates)
    got = retrieve_topk(videos, pool, k, min_sim, dedup_threshold, query_chunk_size=query_chunk_size,
                        pool_chunk_size=pool_chunk_size, candidates=candidates)
    assert got == expected  # indices and scores, exactly (every cosine is a multiple of 0.25)
    sims = F.normalize(videos, dim=-1) @ F.normalize(pool, dim=-1).T
    assert ((sims == sims.max(1, keepdim=True).values).sum(1) > 1).sum() >= 12  # 12 of 13 best cosines are tied


@pytest.mark.parametrize("query_chunk_size, pool_chunk_size", [(1000, 100_000), (4, 33), (16, 50)])
def test_chunked_equals_exact_random(query_chunk_size, pool_chunk_size):
    generator = torch.Generator().manual_seed(0)
    videos, pool = torch.randn(37, 16, generator=generator), torch.randn(501, 16, generator=generator)
    for k, min_sim, dedup in [(5, 0.0, 0.9), (8, None, None), (600, 0.1, 0.8)]:
        expected = exact_retrieve(videos, pool, k, min_sim, dedup)
        indices, scores = retrieve_topk(videos, pool, k, min_sim, dedup, query_chunk_size=query_chunk_size,
                                        pool_chunk_size=pool_chunk_size)
        assert indices == expected[0]
        for a, b in zip(scores, expected[1]):
            torch.testing.assert_close(torch.tensor(a), torch.tensor(b))


def test_memory_bounded_by_chunks(monkeypatch):
    """No tensor of the size of the similarity matrix and no sort of a pool row: every matrix product and top-k
    covers at most query_chunk_size x pool_chunk_size cosines, every sort at most 2 x candidates entries."""
    seen = {"matmul": [], "topk": [], "sort": []}
    originals = {name: getattr(torch.Tensor, name) for name in ("__matmul__", "topk", "argsort", "sort")}

    def spy(name, key):
        def wrapped(self, *args, **kwargs):
            out = originals[name](self, *args, **kwargs)
            seen[key].append(tuple(self.shape) if key != "matmul" else tuple(out.shape))
            return out
        return wrapped

    monkeypatch.setattr(torch.Tensor, "__matmul__", spy("__matmul__", "matmul"))
    monkeypatch.setattr(torch.Tensor, "topk", spy("topk", "topk"))
    monkeypatch.setattr(torch.Tensor, "argsort", spy("argsort", "sort"))
    monkeypatch.setattr(torch.Tensor, "sort", spy("sort", "sort"))
    generator = torch.Generator().manual_seed(0)
    videos, pool = torch.randn(50, 16, generator=generator), torch.randn(3000, 16, generator=generator)
    indices, _ = retrieve_topk(videos, pool, k=4, min_sim=0.0, query_chunk_size=16, pool_chunk_size=256,
                               candidates=20)
    monkeypatch.undo()
    assert indices == exact_retrieve(videos, pool, k=4, min_sim=0.0, candidates=20)[0]
    assert seen["topk"] and max(rows for rows, _ in seen["topk"]) <= 16
    assert max(columns for _, columns in seen["topk"]) <= 256
    assert max(rows * columns for rows, columns in seen["matmul"]) <= 16 * 256
    assert seen["sort"] and max(shape[-1] for shape in seen["sort"]) <= 2 * 20


def test_faiss_backend_equals_torch():
    pytest.importorskip("faiss")
    pool = torch.cat([tied_embeddings(120, seed=4), tied_embeddings(30, seed=4)])  # exact duplicates: ties
    videos = tied_embeddings(11, seed=5)
    for k, min_sim, dedup in [(3, None, None), (8, 0.0, 0.95), (200, None, None)]:
        expected = exact_retrieve(videos, pool, k, min_sim, dedup)
        assert retrieve_topk(videos, pool, k, min_sim, dedup, query_chunk_size=4, backend="faiss") == expected
    generator = torch.Generator().manual_seed(6)
    videos, pool = torch.randn(9, 32, generator=generator), torch.randn(400, 32, generator=generator)
    indices, scores = retrieve_topk(videos, pool, 6, 0.0, 0.9, backend="faiss")
    expected = exact_retrieve(videos, pool, 6, 0.0, 0.9)
    assert indices == expected[0]
    torch.testing.assert_close(torch.tensor(scores), torch.tensor(expected[1]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_the_embeddings_device():
    generator = torch.Generator().manual_seed(0)
    videos, pool = torch.randn(40, 64, generator=generator), torch.randn(5000, 64, generator=generator)
    indices, scores = retrieve_topk(videos.cuda(), pool.cuda(), 8, 0.0, 0.9, pool_chunk_size=999)
    expected = exact_retrieve(videos, pool, 8, 0.0, 0.9)
    assert indices == expected[0]
    torch.testing.assert_close(torch.tensor(scores), torch.tensor(expected[1]), atol=1e-5, rtol=1e-5)


def test_retrieval_argument_errors():
    with pytest.raises(ValueError, match="pool_chunk_size"):
        retrieve_topk(torch.ones(1, 4), torch.ones(3, 4), k=2, pool_chunk_size=0)
    with pytest.raises(ValueError, match="backend"):
        retrieve_topk(torch.ones(1, 4), torch.ones(3, 4), k=2, backend="annoy")
    with pytest.raises(ValueError, match="finite"):
        retrieve_topk(torch.full((1, 4), float("nan")), torch.ones(3, 4), k=2)
    with pytest.raises(ValueError, match="finite.*rows 4-5"):
        retrieve_topk(torch.ones(1, 4), torch.tensor([[1.0, 0, 0, 0]] * 5 + [[float("inf"), 0, 0, 0]]), k=2,
                      pool_chunk_size=2)
    try:
        import faiss  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="faiss"):
            retrieve_topk(torch.ones(1, 4), torch.ones(3, 4), k=2, backend="faiss")


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
