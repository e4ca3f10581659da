"""hfvid.clustering: seeded k-means, one-point-per-cluster assignment, Hungarian variant, flip permutation, K-then-M."""

import numpy as np
import pytest
import torch
from scipy.special import comb

from hfvid.clustering import (
    assign_hungarian,
    assign_unique,
    flip_permutation,
    iter_knn_distances,
    kmeans,
    knn_distances,
    l2_normalize,
    nearest_centroid,
    recover_correspondences,
)


def adjusted_rand_index(a, b) -> float:
    """ARI (Hubert & Arabie) from the contingency table, as sklearn's adjusted_rand_score."""
    _, a = np.unique(a, return_inverse=True)
    _, b = np.unique(b, return_inverse=True)
    table = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(table, (a, b), 1)
    index = comb(table, 2).sum()
    rows, cols = comb(table.sum(1), 2).sum(), comb(table.sum(0), 2).sum()
    expected = rows * cols / comb(len(a), 2)
    return float((index - expected) / (0.5 * (rows + cols) - expected))


def planted(num_images=100, num_parts=8, distractors=5, dim=32, sigma=0.05, seed=0, swap=None):
    """Images x parts with part-specific unit-vector means + noise, plus random distractors (part -1).
    `swap` = planted mirror permutation: the mirrored descriptor of part a is drawn around the mean of part swap[a]."""
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(num_parts, dim))
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    images, parts, descriptors, mirrors = [], [], [], []
    for image in range(num_images):
        for part in list(range(num_parts)) + [-1] * distractors:
            centre = means[part] if part >= 0 else rng.normal(size=dim)
            images.append(image), parts.append(part)
            descriptors.append(centre + sigma * rng.normal(size=dim))
            mirror_centre = means[swap[part]] if (part >= 0 and swap is not None) else centre
            mirrors.append(mirror_centre + sigma * rng.normal(size=dim))
    return np.array(images), np.array(parts), np.array(descriptors, np.float32), np.array(mirrors, np.float32)


def test_kmeans_recovers_planted_parts_and_is_seeded():
    images, parts, descriptors, _ = planted()
    real = parts >= 0
    centroids, labels = kmeans(descriptors[real], 8, seed=3)
    assert adjusted_rand_index(parts[real], labels) > 0.95
    again_centroids, again_labels = kmeans(descriptors[real], 8, seed=3)
    np.testing.assert_array_equal(labels, again_labels)
    np.testing.assert_array_equal(centroids, again_centroids)
    np.testing.assert_allclose(np.linalg.norm(centroids, axis=1), 1.0, atol=0.05)  # means of unit descriptors


def test_assign_unique_keeps_one_closest_point_per_image_and_cluster():
    rng = np.random.default_rng(0)
    images = np.repeat(np.arange(50), 20)
    descriptors = rng.normal(size=(1000, 16)).astype(np.float32)
    centroids = l2_normalize(rng.normal(size=(6, 16))).numpy()
    labels, distances = assign_unique(images, descriptors, centroids)
    full = torch.cdist(l2_normalize(descriptors), torch.as_tensor(centroids)).numpy()
    nearest = full.argmin(1)
    for image in range(50):
        rows = np.flatnonzero(images == image)
        kept = labels[rows][labels[rows] >= 0]
        assert len(kept) == len(set(kept)) <= 6  # each cluster at most once per image
        for cluster in set(nearest[rows]):
            members = rows[nearest[rows] == cluster]
            winner = members[labels[members] == cluster]
            assert len(winner) == 1 and distances[winner[0]] == distances[members].min()


def test_hungarian_assignment_is_one_to_one_per_image():
    images, parts, descriptors, _ = planted(num_images=20, num_parts=4, distractors=2)
    centroids, _ = kmeans(descriptors[parts >= 0], 4, seed=0)
    labels, _ = assign_hungarian(images, descriptors, centroids)
    for image in range(20):
        kept = labels[(images == image) & (labels >= 0)]
        assert len(kept) == len(set(kept))
    real = (parts >= 0) & (labels >= 0)
    assert adjusted_rand_index(parts[real], labels[real]) > 0.95
    assert (labels[parts < 0] == -1).mean() > 0.8  # distractors are rejected by the mean + std threshold


def test_flip_permutation_recovers_the_planted_mirror_table():
    swap = [1, 0, 2, 4, 3, 5]
    images, parts, descriptors, mirrors = planted(num_images=60, num_parts=6, distractors=0, swap=swap)
    result = recover_correspondences(images, descriptors, mirrors, num_landmarks=6, num_clusters=12, seed=1)
    # translate the learned cluster ids back to parts through the majority part of each cluster
    part_of = {c: np.bincount(parts[result.k_labels == c]).argmax() for c in range(6)}
    cluster_of = {p: c for c, p in part_of.items()}
    assert sorted(part_of.values()) == list(range(6))
    learned = [part_of[result.k_flip_permutation[cluster_of[p]]] for p in range(6)]
    assert learned == swap
    perm = result.k_flip_permutation
    assert [perm[p] for p in perm] == list(range(6))  # an involution


def test_recover_correspondences_two_pass_labels():
    images, parts, descriptors, mirrors = planted(num_images=40, num_parts=5, distractors=3)
    result = recover_correspondences(images, descriptors, mirrors, num_landmarks=5, num_clusters=10, seed=0)
    for labels, limit in ((result.k_labels, 5), (result.m_labels, 10)):
        for image in range(40):
            kept = labels[(images == image) & (labels >= 0)]
            assert len(kept) == len(set(kept)) and kept.max() < limit
    assert ((result.m_labels >= 0) <= (result.k_labels >= 0)).all()  # M-clustering only on the K-kept points
    assert result.k_centroids.shape == (5, 32) and result.m_centroids.shape == (10, 32)
    assert ((result.m_mirror_labels >= 0) == (result.m_labels >= 0)).all()
    neurips = recover_correspondences(images, descriptors, mirrors, 5, 10, variant="neurips", seed=0)
    assert (neurips.m_labels >= 0).any()


def test_bad_clustering_inputs_raise():
    with pytest.raises(ValueError, match="num_landmarks"):
        recover_correspondences(np.zeros(20), np.ones((20, 4)), np.ones((20, 4)), num_landmarks=6, num_clusters=3)
    with pytest.raises(ValueError, match="descriptors"):
        kmeans(np.ones((2, 4)), 5)
    with pytest.raises(ValueError, match="backend"):
        kmeans(np.ones((10, 4)), 2, backend="faiss")
    with pytest.raises(ValueError, match="image_ids"):
        assign_unique(np.zeros(3), np.ones((4, 2)), np.ones((1, 2)))


def test_flip_permutation_is_a_permutation_even_with_noisy_votes():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, size=200)
    mirror = np.where(rng.random(200) < 0.8, labels, rng.integers(0, 5, size=200))
    assert sorted(flip_permutation(labels, mirror, 5)) == list(range(5))


def exact_knn(x, k, exclude_self=True):
    """Reference: all-pairs float64 distances, sorted; the point itself (by index) excluded."""
    x = np.asarray(x, np.float64)
    distances = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    if exclude_self:
        np.fill_diagonal(distances, np.inf)
    return np.sort(distances, axis=1)[:, :k]


@pytest.mark.parametrize("chunk_size", [1, 5, 32, 1000])
def test_chunked_knn_equals_the_exact_search(chunk_size):
    rng = np.random.default_rng(0)
    floats = rng.normal(size=(61, 12)).astype(np.float32)
    for k in (1, 7, 60):  # 60 = every other point
        np.testing.assert_allclose(knn_distances(floats, k, chunk_size).numpy(), exact_knn(floats, k), atol=2e-5)
    # integer data with duplicates: all distances exact in float32, so equal to the last bit
    integers = rng.integers(0, 3, size=(30, 4)).astype(np.float32)
    integers[5:9] = integers[4]
    exact = exact_knn(integers, 6).astype(np.float32)
    np.testing.assert_array_equal(knn_distances(integers, 6, chunk_size).numpy(), exact)
    assert (knn_distances(integers, 4, chunk_size)[4:9] == 0).all()  # each copy sees its 4 twins, not itself
    with_self = knn_distances(integers, 6, chunk_size, exclude_self=False).numpy()
    np.testing.assert_array_equal(with_self, exact_knn(integers, 6, exclude_self=False).astype(np.float32))
    starts = [start for start, _ in iter_knn_distances(floats, 3, chunk_size)]
    assert starts == list(range(0, 61, max(chunk_size // 8, 1)))  # chunk_size // 8 queries at a time


def test_knn_rejects_bad_arguments():
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match="k must be"):
        knn_distances(x, 4)  # only 3 other points
    with pytest.raises(ValueError, match="k must be"):
        knn_distances(x[:1], 1)
    with pytest.raises(ValueError, match="backend"):
        knn_distances(x, 2, backend="annoy")
    with pytest.raises(ValueError, match="chunk_size"):
        knn_distances(x, 2, chunk_size=0)
    with pytest.raises(ValueError, match="shape"):
        knn_distances(np.zeros(5), 2)


def test_faiss_knn_equals_the_exact_search():
    pytest.importorskip("faiss")
    rng = np.random.default_rng(2)
    floats = rng.normal(size=(50, 16)).astype(np.float32)
    np.testing.assert_allclose(knn_distances(floats, 9, 8, backend="faiss").numpy(), exact_knn(floats, 9), atol=1e-4)
    integers = rng.integers(0, 3, size=(40, 4)).astype(np.float32)
    integers[5:9] = integers[4]  # duplicates
    np.testing.assert_allclose(knn_distances(integers, 6, 8, backend="faiss").numpy(), exact_knn(integers, 6),
                               atol=1e-4)


def previous_kmeans(x, num_clusters, n_init, max_iter, seed, tol=1e-6):
    """The unchunked CPU k-means this module had before chunking (reference for equivalence)."""
    x = l2_normalize(x)
    generator = torch.Generator().manual_seed(seed)
    best = None
    for _ in range(n_init):
        first = torch.randint(len(x), (1,), generator=generator)
        centers = [x[first]]
        closest = torch.cdist(x, centers[0]).squeeze(1) ** 2
        for _ in range(1, num_clusters):
            index = torch.multinomial(closest, 1, generator=generator)
            centers.append(x[index])
            closest = torch.minimum(closest, torch.cdist(x, x[index]).squeeze(1) ** 2)
        centers = torch.cat(centers)
        for _ in range(max_iter):
            labels = torch.cdist(x, centers).argmin(dim=1)
            sums = torch.zeros_like(centers).index_add_(0, labels, x)
            counts = torch.bincount(labels, minlength=len(centers)).to(x.dtype)[:, None]
            updated = torch.where(counts > 0, sums / counts.clamp_min(1), centers)
            shift = (updated - centers).norm(dim=1).max().item()
            centers = updated
            if shift <= tol:
                break
        distances = torch.cdist(x, centers)
        labels = distances.argmin(dim=1)
        inertia = (distances.gather(1, labels[:, None]) ** 2).sum().item()
        if best is None or inertia < best[2]:
            best = (centers, labels, inertia)
    return best[0].numpy(), best[1].numpy(), best[2]


@pytest.mark.parametrize("chunk_size", [7, 100, 4096])
def test_chunked_kmeans_equals_the_unchunked_one(chunk_size):
    """Same seed -> the same clustering (identical labels) and the same inertia within 1e-5 relative."""
    _, parts, descriptors, _ = planted(num_images=30, num_parts=6, distractors=3, seed=4)
    noise = np.random.default_rng(5).normal(size=(150, 32)).astype(np.float32)  # unstructured: many local optima
    for data, clusters in ((descriptors, 6), (noise, 9)):
        ref_centroids, ref_labels, ref_inertia = previous_kmeans(torch.from_numpy(data), clusters, 3, 30, seed=7)
        centroids, labels = kmeans(data, clusters, n_init=3, max_iter=30, seed=7, device="cpu", chunk_size=chunk_size)
        np.testing.assert_array_equal(labels, ref_labels)
        np.testing.assert_allclose(centroids, ref_centroids, atol=1e-5)
        x = l2_normalize(data).numpy()
        inertia = ((x - centroids[labels]) ** 2).sum()
        assert abs(inertia - ref_inertia) <= 1e-5 * ref_inertia
        near, distances = nearest_centroid(data, centroids, chunk_size=chunk_size)
        np.testing.assert_array_equal(near, labels)


def test_hungarian_assignment_does_not_depend_on_point_order():
    images, parts, descriptors, _ = planted(num_images=12, num_parts=4, distractors=2, seed=3)
    centroids, _ = kmeans(descriptors[parts >= 0], 4, seed=0)
    labels, matched = assign_hungarian(images, descriptors, centroids)
    shuffle = np.random.default_rng(0).permutation(len(images))  # images interleaved, not contiguous
    shuffled_labels, shuffled_matched = assign_hungarian(images[shuffle], descriptors[shuffle], centroids)
    np.testing.assert_array_equal(shuffled_labels, labels[shuffle])
    np.testing.assert_allclose(shuffled_matched, matched[shuffle], atol=1e-6)
