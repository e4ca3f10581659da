"""Clustering of keypoint descriptors into object-part identities (Keypoints-to-Landmarks correspondence recovery).

* :func:`kmeans`: seeded k-means++ initialisation + Lloyd iterations in torch on any ``device``, best of ``n_init``
  restarts, on L2-normalised descriptors (``backend="sklearn"`` uses scikit-learn's ``KMeans`` when it is installed).
* :func:`knn_distances` / :func:`iter_knn_distances`: exact k-nearest-neighbour distances by a chunked running top-k
  (torch on any device, or faiss where installed), the search behind keypoint outlier removal.
* :func:`assign_unique`: the paper's "modified k-means" assignment: every point goes to its nearest centroid, and
  per image only the closest point of each cluster keeps its label (a cluster appears at most once per image).
* :func:`assign_hungarian`: the NeurIPS variant: a one-to-one point/cluster matching per image
  (``scipy.optimize.linear_sum_assignment``) plus a per-cluster rejection threshold (mean + std of member distances).
* :func:`flip_permutation`: the mirror table of clusters from the co-occurrence of (cluster of a point, cluster of the
  same point seen in the mirrored image).
* :func:`recover_correspondences`: the two-pass K-then-M scheme of the TPAMI paper.

Inputs are numpy arrays (memmaps too) or torch tensors; outputs are numpy arrays. Labels ``-1`` mean "no label".
Every search over all points works in blocks set by ``chunk_size``, so its working memory is bounded by about
``chunk_size x max(chunk_size, num_clusters)`` distances whatever the number of descriptors
(``benchmarks/bench_keypoint_scale.py`` measures it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

KMEANS_BACKENDS = ("torch", "sklearn")
KNN_BACKENDS = ("torch", "faiss")
DEFAULT_CHUNK_SIZE = 4096


def _as_tensor(x) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.float()
    array = np.asarray(x, dtype=np.float32)  # no copy for float32 arrays and memmaps
    return torch.from_numpy(array if array.flags.writeable else array.copy())


def _check_chunk_size(chunk_size: int) -> int:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an int >= 1, got {chunk_size!r}")
    return chunk_size


def _nearest_in_chunks(x: torch.Tensor, centers: torch.Tensor, chunk_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(labels (N,), distances (N,))`` of each row's nearest centre, ``chunk_size`` rows at a time."""
    labels = torch.empty(len(x), dtype=torch.long, device=x.device)
    distances = torch.empty(len(x), dtype=x.dtype, device=x.device)
    for start in range(0, len(x), chunk_size):
        values, index = torch.cdist(x[start:start + chunk_size], centers).min(dim=1)
        labels[start:start + chunk_size], distances[start:start + chunk_size] = index, values
    return labels, distances


def l2_normalize(descriptors) -> torch.Tensor:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    x = _as_tensor(descriptors)
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def _check_descriptors(descriptors, num_clusters: int) -> torch.Tensor:
    x = _as_tensor(descriptors)
    if x.ndim != 2:
        raise ValueError(f"descriptors must have shape (num_points, dim), got {tuple(x.shape)}")
    if num_clusters < 1:
        raise ValueError(f"num_clusters must be >= 1, got {num_clusters}")
    if len(x) < num_clusters:
        raise ValueError(f"cannot make {num_clusters} clusters from {len(x)} descriptors (need at least as many)")
    return x


def _kmeans_plus_plus(x: torch.Tensor, k: int, generator: torch.Generator, chunk_size: int) -> torch.Tensor:
    """k-means++ seeding: each new centre drawn with probability proportional to the squared distance.

    The draws use the CPU ``generator`` on CPU copies of the (N,) weights, so one seed gives one seeding on every
    device."""
    first = torch.randint(len(x), (1,), generator=generator).to(x.device)
    centers = [x[first]]
    closest = _nearest_in_chunks(x, centers[0], chunk_size)[1] ** 2
    for _ in range(1, k):
        weights = closest if closest.sum() > 0 else torch.ones_like(closest)
        index = torch.multinomial(weights.cpu(), 1, generator=generator).to(x.device)
        centers.append(x[index])
        closest = torch.minimum(closest, _nearest_in_chunks(x, x[index], chunk_size)[1] ** 2)
    return torch.cat(centers)


def _lloyd(x: torch.Tensor, centers: torch.Tensor, max_iter: int, tol: float,
           chunk_size: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Lloyd iterations with chunked assignment; per-cluster sums and counts are accumulated chunk by chunk."""
    for _ in range(max_iter):
        sums, counts = torch.zeros_like(centers), torch.zeros(len(centers), dtype=x.dtype, device=x.device)
        for start in range(0, len(x), chunk_size):
            rows = x[start:start + chunk_size]
            labels = torch.cdist(rows, centers).argmin(dim=1)
            sums.index_add_(0, labels, rows)
            counts += torch.bincount(labels, minlength=len(centers)).to(x.dtype)
        counts = counts[:, None]
        updated = torch.where(counts > 0, sums / counts.clamp_min(1), centers)  # empty clusters keep their centre
        shift = (updated - centers).norm(dim=1).max().item()
        centers = updated
        if shift <= tol:
            break
    labels, distances = _nearest_in_chunks(x, centers, chunk_size)
    inertia = (distances.double() ** 2).sum().item()
    return centers, labels, inertia


def kmeans(
    descriptors,
    num_clusters: int,
    n_init: int = 10,
    max_iter: int = 100,
    seed: int = 0,
    normalize: bool = True,
    backend: str = "torch",
    tol: float = 1e-6,
    device=None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded k-means; returns ``(centroids (K, D), labels (N,))`` of the restart with the lowest inertia.

    ``normalize`` L2-normalises the descriptors first (the paper clusters unit descriptors). The result depends only
    on the data and ``seed``. The torch backend runs on ``device`` (e.g. ``accelerator.device``; default: where the
    data is) and assigns ``chunk_size`` points at a time, so beyond the descriptors themselves it holds
    ``chunk_size x K`` distances, not ``N x K``.
    """
    if backend not in KMEANS_BACKENDS:
        raise ValueError(f"backend must be one of {KMEANS_BACKENDS}, got {backend!r}")
    chunk_size = _check_chunk_size(chunk_size)
    x = _check_descriptors(descriptors, num_clusters)
    if normalize:
        x = l2_normalize(x)
    if backend == "sklearn":
        try:
            from sklearn.cluster import KMeans
        except ImportError as error:
            raise ValueError("backend='sklearn' needs scikit-learn (pip install scikit-learn)") from error
        fitted = KMeans(num_clusters, n_init=n_init, max_iter=max_iter, random_state=seed).fit(x.cpu().numpy())
        return fitted.cluster_centers_.astype(np.float32), fitted.labels_.astype(np.int64)
    x = x if device is None else x.to(device)
    generator = torch.Generator().manual_seed(seed)
    best = None
    for _ in range(max(n_init, 1)):
        seeds = _kmeans_plus_plus(x, num_clusters, generator, chunk_size)
        centers, labels, inertia = _lloyd(x, seeds, max_iter, tol, chunk_size)
        if best is None or inertia < best[2]:
            best = (centers, labels, inertia)
    return best[0].cpu().numpy(), best[1].cpu().numpy()


def nearest_centroid(descriptors, centroids, normalize: bool = True, device=None,
                     chunk_size: int = DEFAULT_CHUNK_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """``(labels (N,), distances (N,))`` of each descriptor's nearest centroid (chunked, on ``device``)."""
    chunk_size = _check_chunk_size(chunk_size)
    x = _as_tensor(descriptors)
    if len(x) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    x = l2_normalize(x) if normalize else x
    x = x if device is None else x.to(device)
    labels, values = _nearest_in_chunks(x, _as_tensor(centroids).to(x.device), chunk_size)
    return labels.cpu().numpy(), values.cpu().numpy()


KNN_BLOCK_RATIO = 8  # database rows per block = 8 chunk_size, queries per block = chunk_size // 8


def _knn_chunk_torch(queries: torch.Tensor, start: int, x: torch.Tensor, x_sq: torch.Tensor, k: int,
                     block_rows: int, exclude_self: bool) -> torch.Tensor:
    """Squared distances (q, k), ascending, of ``queries`` (rows ``start..`` of ``x``) to their k nearest rows,
    by a running top-k over ``block_rows`` database rows at a time (self matches excluded by index, not value)."""
    best = torch.full((len(queries), k), float("inf"), dtype=x.dtype, device=x.device)
    rows = torch.arange(len(queries), device=x.device)
    for db_start in range(0, len(x), block_rows):
        block = x[db_start:db_start + block_rows]
        # |q|^2 is the same along a row, so ranking |b|^2 - 2 q.b (one fused addmm, one (q, c) buffer) is enough
        partial = torch.addmm(x_sq[db_start:db_start + block_rows][None], queries, block.T, alpha=-2)
        if exclude_self:
            columns = rows + start - db_start
            inside = (columns >= 0) & (columns < len(block))
            partial[rows[inside], columns[inside]] = float("inf")
        nearest = partial.topk(min(k, len(block)), dim=1, largest=False, sorted=False).values
        del partial
        best = torch.cat([best, nearest], dim=1).topk(k, dim=1, largest=False, sorted=True).values
    return (best + (queries * queries).sum(dim=1, keepdim=True)).clamp_min_(0)


def iter_knn_distances(descriptors, k: int, chunk_size: int = DEFAULT_CHUNK_SIZE, device=None,
                       backend: str = "torch", exclude_self: bool = True):
    """Yield ``(start, distances (q, k))``: exact L2 distances, ascending, from descriptors ``start .. start + q``
    to their ``k`` nearest descriptors (the point itself excluded when ``exclude_self``).

    ``backend="torch"`` takes ``q = max(chunk_size // 8, 1)`` queries at a time and keeps their running top-k over
    blocks of ``8 chunk_size`` database rows on ``device`` (wide blocks: ``topk`` is ~3x faster on long rows), so the
    working memory is about ``chunk_size^2`` distances (64 MB at 4096), flat in the number of descriptors.
    ``backend="faiss"`` uses an exact ``faiss.IndexFlatL2`` (CPU; needs ``faiss-cpu``/``faiss-gpu``), which blocks
    its own search. Equal distances (duplicates) are kept as they are: the result is the multiset of the k
    smallest distances, whatever order ties are found in.
    """
    if backend not in KNN_BACKENDS:
        raise ValueError(f"backend must be one of {KNN_BACKENDS}, got {backend!r}")
    chunk_size = _check_chunk_size(chunk_size)
    x = _as_tensor(descriptors)
    if x.ndim != 2:
        raise ValueError(f"descriptors must have shape (num_points, dim), got {tuple(x.shape)}")
    others = len(x) - 1 if exclude_self else len(x)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= others:
        raise ValueError(f"k must be an int in [1, {others}] for {len(x)} descriptors "
                         f"(exclude_self={exclude_self}), got {k!r}")
    if backend == "faiss":
        try:
            import faiss
        except ImportError as error:
            raise ValueError("backend='faiss' needs faiss (pip install faiss-cpu)") from error
        array = np.ascontiguousarray(x.cpu().numpy())
        index = faiss.IndexFlatL2(array.shape[1])
        index.add(array)
        for start in range(0, len(array), chunk_size):
            queries = array[start:start + chunk_size]
            squared, found = index.search(queries, k + int(exclude_self))
            if exclude_self:  # drop the point itself by index (or the (k+1)-th when a duplicate hid it)
                rows = np.arange(len(queries))
                is_self = found == (start + rows)[:, None]
                keep = np.ones(squared.shape, bool)
                keep[rows, np.where(is_self.any(1), is_self.argmax(1), k)] = False
                squared = squared[keep].reshape(len(queries), k)
            yield start, torch.from_numpy(np.sqrt(np.maximum(squared, 0)))
        return
    x = x if device is None else x.to(device)
    x_sq = (x * x).sum(dim=1)
    queries = max(chunk_size // KNN_BLOCK_RATIO, 1)
    for start in range(0, len(x), queries):
        squared = _knn_chunk_torch(x[start:start + queries], start, x, x_sq, k, chunk_size * KNN_BLOCK_RATIO,
                                   exclude_self)
        yield start, squared.sqrt()


def knn_distances(descriptors, k: int, chunk_size: int = DEFAULT_CHUNK_SIZE, device=None, backend: str = "torch",
                  exclude_self: bool = True) -> torch.Tensor:
    """All of :func:`iter_knn_distances` as one (N, k) CPU tensor (use the iterator when N x k is too large)."""
    parts = [d.cpu() for _, d in iter_knn_distances(descriptors, k, chunk_size, device, backend, exclude_self)]
    return torch.cat(parts)


def _check_image_ids(image_ids, count: int) -> np.ndarray:
    ids = np.asarray(image_ids).reshape(-1)
    if len(ids) != count:
        raise ValueError(f"image_ids has {len(ids)} entries for {count} descriptors")
    return ids


def assign_unique(image_ids, descriptors, centroids, normalize: bool = True, device=None,
                  chunk_size: int = DEFAULT_CHUNK_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Closest point per (image, cluster): ``(labels (N,), distances (N,))``, ``-1`` for points that lost.

    Each point takes its nearest centroid; within an image, among the points of one cluster only the one with the
    smallest centroid distance keeps the label. So every image holds each cluster id at most once.
    """
    labels, distances = nearest_centroid(descriptors, centroids, normalize, device, chunk_size)
    ids = _check_image_ids(image_ids, len(labels))
    order = np.lexsort((distances, labels, ids))  # by image, then cluster, then distance
    first = np.ones(len(order), dtype=bool)
    first[1:] = (ids[order][1:] != ids[order][:-1]) | (labels[order][1:] != labels[order][:-1])
    kept = np.full(len(labels), -1, dtype=np.int64)
    kept[order[first]] = labels[order[first]]
    return kept, distances


def assign_hungarian(image_ids, descriptors, centroids, normalize: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """NeurIPS assignment: per image a one-to-one matching of points to clusters minimising the total distance;
    a match is rejected when its distance exceeds ``mean + std`` of the matched distances of that cluster.
    Distances are computed one image at a time (memory: the largest image's points x clusters)."""
    from scipy.optimize import linear_sum_assignment

    x = _as_tensor(descriptors)
    x = l2_normalize(x) if normalize else x
    ids = _check_image_ids(image_ids, len(x))
    centers = _as_tensor(centroids)
    labels = np.full(len(x), -1, dtype=np.int64)
    matched = np.zeros(len(x), dtype=np.float32)
    order = np.argsort(ids, kind="stable")
    boundaries = np.flatnonzero(ids[order][1:] != ids[order][:-1]) + 1
    for rows in np.split(order, boundaries) if len(x) else []:
        distances = torch.cdist(x[torch.from_numpy(rows)], centers).numpy()
        point_index, cluster = linear_sum_assignment(distances)
        labels[rows[point_index]] = cluster
        matched[rows[point_index]] = distances[point_index, cluster]
    for cluster in np.unique(labels[labels >= 0]):
        members = labels == cluster
        limit = matched[members].mean() + matched[members].std()
        labels[members & (matched > limit)] = -1
    return labels, matched


def flip_permutation(labels, mirror_labels, num_clusters: int) -> list[int]:
    """Mirror table of clusters from pairs (label of a point, label of the same point in the mirrored image).

    The paper takes the row argmax of the co-occurrence matrix; we solve the assignment problem on it instead
    (``linear_sum_assignment``), which equals the argmax whenever that is a permutation and is always a permutation.
    """
    from scipy.optimize import linear_sum_assignment

    labels, mirror_labels = np.asarray(labels), np.asarray(mirror_labels)
    valid = (labels >= 0) & (mirror_labels >= 0)
    cooccurrence = np.zeros((num_clusters, num_clusters))
    np.add.at(cooccurrence, (labels[valid], mirror_labels[valid]), 1)
    rows, columns = linear_sum_assignment(-cooccurrence)
    permutation = np.empty(num_clusters, dtype=np.int64)
    permutation[rows] = columns
    return permutation.tolist()


@dataclass
class Correspondences:
    """Result of one correspondence recovery (per point arrays of length N; ``-1`` = unlabelled).

    ``k_labels``: landmark ids in ``[0, K)`` (at most one per image and id); ``m_labels``/``m_mirror_labels``: the
    training pseudo-labels in ``[0, M)`` and the id of the same point in the mirrored image; ``k_flip_permutation``:
    the mirror table of the K landmarks.
    """

    k_labels: np.ndarray
    m_labels: np.ndarray
    m_mirror_labels: np.ndarray
    k_centroids: np.ndarray
    m_centroids: np.ndarray
    k_flip_permutation: list[int]


def recover_correspondences(
    image_ids,
    descriptors,
    mirror_descriptors,
    num_landmarks: int,
    num_clusters: int,
    variant: str = "tpami",
    seed: int = 0,
    n_init: int = 10,
    max_iter: int = 100,
    max_samples: int = 800_000,
    backend: str = "torch",
    device=None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Correspondences:
    """The K-then-M clustering of the TPAMI paper (``variant="neurips"``: one M-clustering with Hungarian matching).

    1. k-means with K centroids on the descriptors and the mirrored descriptors (at most ``max_samples`` of each);
       per image keep the closest point per centroid -> ``k_labels``; the co-occurrence of a point's cluster and its
       mirror's cluster gives the K flip permutation.
    2. k-means with M centroids on the kept points only; per image again the closest point per centroid ->
       ``m_labels``; ``m_mirror_labels`` is the nearest M centroid of each point's mirrored descriptor.

    k-means and the nearest-centroid searches run on ``device`` in blocks of ``chunk_size`` points.
    """
    if variant not in ("tpami", "neurips"):
        raise ValueError(f"variant must be 'tpami' or 'neurips', got {variant!r}")
    if num_landmarks > num_clusters:
        raise ValueError(f"num_landmarks (K={num_landmarks}) must not exceed num_clusters (M={num_clusters})")
    x, mirrored = l2_normalize(descriptors), l2_normalize(mirror_descriptors)
    if x.shape != mirrored.shape:
        raise ValueError(f"descriptors {tuple(x.shape)} and mirror_descriptors {tuple(mirrored.shape)} differ in shape")
    ids = _check_image_ids(image_ids, len(x))
    options = dict(seed=seed, n_init=n_init, max_iter=max_iter, normalize=False, backend=backend, device=device,
                   chunk_size=chunk_size)
    search = dict(normalize=False, device=device, chunk_size=chunk_size)
    both = torch.cat([x[:max_samples], mirrored[:max_samples]])
    k_centroids, _ = kmeans(both, num_landmarks, **options)
    k_labels, _ = assign_unique(ids, x, k_centroids, **search)
    mirror_k, _ = nearest_centroid(mirrored, k_centroids, **search)
    k_flip = flip_permutation(k_labels, mirror_k, num_landmarks)

    if variant == "neurips":
        m_centroids, _ = kmeans(both, num_clusters, **options)
        m_labels, _ = assign_hungarian(ids, x, m_centroids, normalize=False)
    else:
        kept = np.flatnonzero(k_labels >= 0)
        if len(kept) < num_clusters:
            raise ValueError(
                f"only {len(kept)} points survived the K-assignment; need at least M={num_clusters} for the "
                "M-clustering (use more images or a smaller num_clusters)"
            )
        m_centroids, _ = kmeans(x[kept[:max_samples]], num_clusters, **options)
        m_labels = np.full(len(x), -1, dtype=np.int64)
        m_labels[kept], _ = assign_unique(ids[kept], x[kept], m_centroids, **search)
    m_mirror, _ = nearest_centroid(mirrored, m_centroids, **search)
    return Correspondences(
        k_labels=k_labels,
        m_labels=m_labels,
        m_mirror_labels=np.where(m_labels >= 0, m_mirror, -1),
        k_centroids=np.asarray(k_centroids, np.float32),
        m_centroids=np.asarray(m_centroids, np.float32),
        k_flip_permutation=k_flip,
    )


__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "KMEANS_BACKENDS",
    "KNN_BACKENDS",
    "Correspondences",
    "assign_hungarian",
    "assign_unique",
    "flip_permutation",
    "iter_knn_distances",
    "kmeans",
    "knn_distances",
    "l2_normalize",
    "nearest_centroid",
    "recover_correspondences",
]
