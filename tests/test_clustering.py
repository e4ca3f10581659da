"""hfvid.clustering: seeded k-means, one-point-per-cluster assignment, Hungarian variant, flip permutation, K-then-M."""

import numpy as np
import pytest
import torch
from scipy.special import comb

from hfvid.clustering import (
    assign_hungarian,
    assign_unique,
    flip_permutation,
    kmeans,
    l2_normalize,
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
