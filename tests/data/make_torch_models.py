"""Regenerate the PyTorch-exported test models in this folder (needs torch; the tests do not).

* ``torch_rescat.onnx``: a small CNN (stem, two residual blocks with adds, a
  concat of a 1x1 and a 3x3 branch, a grouped 3x3 conv (g=2), a strided conv,
  global pooling, a Linear head), dynamic batch (``N``).
* ``torch_two_io.onnx``: two inputs (an image and a feature vector) and two
  outputs (class logits and an embedding); dynamic batch.

Exported with the legacy TorchScript exporter (``dynamo=False``), opset 17,
weights seeded (``torch.manual_seed(0)``), eval mode (BatchNorm folded by the
exporter). Usage: ``python tests/data/make_torch_models.py`` (torch 2.13.0).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

HERE = Path(__file__).resolve().parent
OPSET = 17


class Block(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.c1 = nn.Conv2d(ch, ch, 3, padding=1, bias=False)
        self.b1 = nn.BatchNorm2d(ch)
        self.c2 = nn.Conv2d(ch, ch, 3, padding=1, bias=False)
        self.b2 = nn.BatchNorm2d(ch)

    def forward(self, x):
        y = torch.relu(self.b1(self.c1(x)))
        return torch.relu(x + self.b2(self.c2(y)))


class ResCat(nn.Module):
    def __init__(self, ch: int = 16, classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, ch, 3, padding=1), nn.ReLU())
        self.blocks = nn.Sequential(Block(ch), Block(ch))
        self.br1 = nn.Conv2d(ch, ch, 1)
        self.br3 = nn.Conv2d(ch, ch, 3, padding=1)
        self.grouped = nn.Conv2d(2 * ch, 2 * ch, 3, padding=1, groups=2)
        self.down = nn.Conv2d(2 * ch, 2 * ch, 3, stride=2, padding=1)
        self.head = nn.Linear(2 * ch, classes)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        x = torch.relu(torch.cat([self.br1(x), self.br3(x)], dim=1))
        x = torch.relu(self.grouped(x))
        x = torch.relu(self.down(x))
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class TwoIO(nn.Module):
    def __init__(self, ch: int = 8, feat: int = 12, classes: int = 5):
        super().__init__()
        self.conv1 = nn.Conv2d(3, ch, 3, padding=1)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)
        self.fc_img = nn.Linear(ch, 16)
        self.fc_feat = nn.Linear(feat, 16)
        self.cls = nn.Linear(16, classes)

    def forward(self, image, features):
        x = torch.relu(self.conv2(torch.relu(self.conv1(image))))
        x = x.mean(dim=(2, 3))
        emb = torch.tanh(self.fc_img(x) + self.fc_feat(features))
        return self.cls(emb), emb


def _randomize_bn(model: nn.Module, gen: torch.Generator) -> None:
    """Non-trivial BatchNorm statistics, so the folded conv weights are not the raw init."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)


def main() -> None:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    net = ResCat()
    with torch.no_grad():
        _randomize_bn(net, gen)
    net.eval()
    torch.onnx.export(net, (torch.randn(2, 3, 16, 16),), HERE / "torch_rescat.onnx",
                      input_names=["x"], output_names=["logits"], opset_version=OPSET,
                      dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}}, dynamo=False)
    two = TwoIO().eval()
    torch.onnx.export(two, (torch.randn(2, 3, 12, 12), torch.randn(2, 12)),
                      HERE / "torch_two_io.onnx", input_names=["image", "features"],
                      output_names=["logits", "embedding"], opset_version=OPSET,
                      dynamic_axes={"image": {0: "N"}, "features": {0: "N"},
                                    "logits": {0: "N"}, "embedding": {0: "N"}}, dynamo=False)
    for name in ("torch_rescat.onnx", "torch_two_io.onnx"):
        print(f"wrote {HERE / name} ({(HERE / name).stat().st_size} bytes)")


if __name__ == "__main__":
    main()
