"""Train and export every zoo model (needs the ``models`` extra): ``python -m winnow.models.train [names]``.

Each model's script seeds itself, trains, exports ``onnx/<name>.onnx`` and
writes its evaluation data ``data/<name>.npz``; run
``python -m winnow.models.evaluate`` afterwards for the metrics. Order
matters: the Laplace model starts from the digits CNN's weights.
"""

from __future__ import annotations

import importlib
import sys
import time

#: zoo name -> module that trains it (``main()``), in build order
SCRIPTS = {
    "digits_cnn": "digits_cnn",
    "laplace_digits": "laplace",
    "bier_digits": "bier",
    "graphnorm_gnn": "graphnorm_gnn",
    "adagcn": "adagcn",
    "dagcn": "dagcn",
    "scene_graph": "scene_graph",
    "geomgcl": "geomgcl",
    "rotational_study": "rotational_study",  # plot + metrics only, no ONNX model
}


def main(argv: list[str] | None = None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or list(SCRIPTS)
    unknown = [n for n in names if n not in SCRIPTS]
    if unknown:
        print(f"unknown models {unknown}; known: {list(SCRIPTS)}", file=sys.stderr)
        return 2
    for n in names:
        t0 = time.perf_counter()
        importlib.import_module(f"winnow.models.{SCRIPTS[n]}").main()
        print(f"{n}: built in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
