"""SYNTHETIC scene graphs: generated scenes of coloured shapes with spatial relations (numpy only).

No scene-graph dataset ships in any PyPI package, so this one is generated
(seeded) and labelled synthetic everywhere. A scene is a 64x64 RGB image on
a noisy grey background with 3 to :data:`MAX_OBJ` objects, each a circle,
square or triangle in red, green or blue (9 object classes), drawn with
numpy in generation order (later objects on top). Boxes are the tight pixel
boxes of each drawn shape. About a quarter of the objects are placed inside
a larger one.

Relations (ordered pairs ``(subject, object)``, one predicate per pair,
decided from the boxes, first rule that applies):

1. ``inside``: the subject's box lies within the object's box;
2. ``overlapping``: the two boxes intersect (neither contains the other);
3. if the object is the subject's nearest other object (box centres):
   ``left of`` / ``right of`` / ``above`` / ``below`` along the dominant axis
   of the centre offset;
4. otherwise no relation (like the sparse annotations of real scene-graph
   sets, most pairs carry none).

:func:`recall` scores the PredCls setting (ground-truth boxes and object
labels given, predicates predicted): triplets ranked by predicate
probability, Recall@K averaged over images, with the graph constraint (one
predicate per pair) and without it.
"""

from __future__ import annotations

import numpy as np

SIZE = 64
MAX_OBJ = 8
SHAPES = ("circle", "square", "triangle")
COLOURS = {"red": (0.9, 0.15, 0.15), "green": (0.15, 0.8, 0.2), "blue": (0.2, 0.3, 0.95)}
OBJ_CLASSES = tuple(f"{c} {s}" for s in SHAPES for c in COLOURS)  #: class = 3 * shape + colour
PREDICATES = ("__none__", "left of", "right of", "above", "below", "inside", "overlapping")
#: the fixed ordered pairs of object slots (subject, object); padded slots give invalid pairs
PAIRS = np.array([(i, j) for i in range(MAX_OBJ) for j in range(MAX_OBJ) if i != j], np.int64)


def _mask(shape: int, cx: float, cy: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    if shape == 0:
        return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    if shape == 1:
        return (np.abs(xx - cx) <= r) & (np.abs(yy - cy) <= r)
    top = cy - r
    return (yy >= top) & (yy <= cy + r) & (np.abs(xx - cx) <= (yy - top) / 2)


def _box(m: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(m)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


def _inside(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(a[0] >= b[0] and a[1] >= b[1] and a[2] <= b[2] and a[3] <= b[3])


def _intersect(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1]))


def relations(boxes: np.ndarray) -> np.ndarray:
    """``[n, n]`` predicate index of every ordered pair (0: none; diagonal 0) from ``boxes``."""
    n = len(boxes)
    c = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], 1)
    d = np.linalg.norm(c[:, None] - c[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    near = d.argmin(1)
    rel = np.zeros((n, n), np.int64)
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            if _inside(boxes[i], boxes[j]):
                rel[i, j] = 5
            elif _inside(boxes[j], boxes[i]):
                rel[i, j] = 0
            elif _intersect(boxes[i], boxes[j]):
                rel[i, j] = 6
            elif near[i] == j:
                dx, dy = c[j] - c[i]
                rel[i, j] = (1 if dx > 0 else 2) if abs(dx) >= abs(dy) else (3 if dy > 0 else 4)
    return rel


def scene(rng: np.random.Generator):
    """One scene: ``(image float32 [3, 64, 64], boxes [n, 4] pixels, labels [n])``."""
    img = rng.uniform(0.25, 0.45) + rng.normal(0, 0.04, (3, SIZE, SIZE))
    n = int(rng.integers(3, MAX_OBJ + 1))
    boxes, labels, params = [], [], []
    for _ in range(n):
        shape, colour = int(rng.integers(3)), int(rng.integers(3))
        hosts = [k for k, p in enumerate(params) if p[2] >= 9]
        placed = None
        if hosts and rng.random() < 0.35:
            hx, hy, hr = params[hosts[int(rng.integers(len(hosts)))]]
            colour = (labels[hosts[0]] % 3 + 1 + int(rng.integers(2))) % 3  # differs from host
            r = rng.uniform(2.5, 3.5)
            cx, cy = hx + rng.uniform(-1.5, 1.5), hy + rng.uniform(0, 3)
            placed = (cx, cy, r)
        else:
            for _try in range(30):
                r = rng.uniform(4, 11)
                cx, cy = rng.uniform(r + 1, SIZE - r - 1, 2)
                b = np.array([cx - r, cy - r, cx + r, cy + r])
                if all(not _intersect(b, bb) or rng.random() < 0.15 for bb in boxes):
                    placed = (cx, cy, r)
                    break
        if placed is None:
            continue
        m = _mask(shape, *placed)
        if m.sum() < 6:
            continue
        rgb = np.array(COLOURS[list(COLOURS)[colour]]) + rng.normal(0, 0.05, 3)
        img[:, m] = rgb[:, None]
        boxes.append(_box(m))
        labels.append(3 * shape + colour)
        params.append(placed)
    img = np.clip(img + rng.normal(0, 0.02, img.shape), 0, 1).astype(np.float32)
    return img, np.array(boxes, np.float32), np.array(labels, np.int64)


def dataset(n: int, seed: int) -> dict[str, np.ndarray]:
    """``n`` SYNTHETIC scenes as padded arrays.

    ``image [n, 3, 64, 64]``; ``boxes [n, MAX_OBJ, 4]`` (x1, y1, x2, y2 in [0, 1],
    zeros for padded slots); ``labels [n, MAX_OBJ]`` (-1 padded); ``rel [n, P]``
    predicate of every pair of :data:`PAIRS` (-1 when a slot is padded).
    """
    rng = np.random.default_rng(seed)
    image = np.zeros((n, 3, SIZE, SIZE), np.float32)
    boxes = np.zeros((n, MAX_OBJ, 4), np.float32)
    labels = -np.ones((n, MAX_OBJ), np.int64)
    rel = -np.ones((n, len(PAIRS)), np.int64)
    for s in range(n):
        img, b, lab = scene(rng)
        k = len(b)
        image[s], boxes[s, :k], labels[s, :k] = img, b / SIZE, lab
        r = relations(b)
        ok = (PAIRS[:, 0] < k) & (PAIRS[:, 1] < k)
        rel[s, ok] = r[PAIRS[ok, 0], PAIRS[ok, 1]]
    return {"image": image, "boxes": boxes, "labels": labels, "rel": rel}


#: the evaluation sets: (scenes, seed) of the test split and of the calibration split (the
#: first 256 training scenes; training uses ``dataset(3000, seed=1)``)
TEST, CALIB = (500, 2), (256, 1)


def eval_data() -> dict[str, np.ndarray]:
    """What ``data/scene_graph.npz`` stores: everything but the images (32 MB as float32)."""
    te, ca = dataset(*TEST), dataset(*CALIB)
    return {"test__boxes": te["boxes"], "test__labels": te["labels"], "test__rel": te["rel"],
            "calib__boxes": ca["boxes"], "calib__labels": ca["labels"]}


def eval_images(stored: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The test and calibration images, regenerated from their seeds and checked against ``stored``."""
    te, ca = dataset(*TEST), dataset(*CALIB)
    for split, d in (("test", te), ("calib", ca)):
        for k in ("boxes", "labels"):
            if not np.array_equal(d[k], stored[f"{split}__{k}"]):
                raise RuntimeError(f"regenerated {split} scenes differ from the stored {k}: "
                                   "numpy's random stream changed")
    return {"test__image": te["image"], "calib__image": ca["image"]}


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.float64) - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def recall(rel_logits: np.ndarray, rel: np.ndarray, ks=(20, 50)) -> dict[str, float]:
    """PredCls predicate Recall@K, mean over images with at least one relation.

    ``rel_logits [n, P, 1 + predicates]`` (class 0: no relation), ``rel [n, P]``.
    A triplet's score is its predicate probability (object labels are given).
    ``recall@K``: graph-constrained, each pair's best non-background predicate
    only; ``ng_recall@K``: no graph constraint, every (pair, predicate) ranked.
    """
    p = _softmax(rel_logits)[..., 1:]
    out = {f"recall@{k}": [] for k in ks} | {f"ng_recall@{k}": [] for k in ks}
    for s in range(len(rel)):
        valid = rel[s] >= 0
        gt = np.nonzero(rel[s] > 0)[0]
        if not len(gt):
            continue
        ps = np.where(valid[:, None], p[s], -1.0)
        best = ps.argmax(1)
        order = np.argsort(-ps.max(1), kind="stable")
        flat = np.argsort(-ps.reshape(-1), kind="stable")
        for k in ks:
            top = order[:k]
            hit = top[best[top] + 1 == rel[s, top]]
            out[f"recall@{k}"].append(np.isin(gt, hit).mean())
            pair, pred = np.divmod(flat[:k], ps.shape[1])
            hit = pair[pred + 1 == rel[s, pair]]
            out[f"ng_recall@{k}"].append(np.isin(gt, hit).mean())
    return {k: float(np.mean(v)) for k, v in out.items()}


def object_accuracy(obj_logits: np.ndarray, labels: np.ndarray) -> float:
    """Object classification accuracy over real (unpadded) objects."""
    m = labels >= 0
    return float(np.mean(obj_logits.argmax(-1)[m] == labels[m]))
