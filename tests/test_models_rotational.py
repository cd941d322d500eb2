"""Invariants of the rotational-equilibrium wrapper (needs torch: skipped without it)."""

import math

import pytest

torch = pytest.importorskip("torch")

from winnow.models.rotational import RotationalWrapper, angle, equilibrium_rate  # noqa: E402


def _net(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))


@pytest.mark.parametrize("kind", ["adamw", "sgdm", "lion"])
def test_norm_kept_update_orthogonal_angle_is_equilibrium_rate(kind):
    net = _net(0)
    opt = RotationalWrapper(net.named_parameters(), kind=kind, lr=1e-3, weight_decay=0.05)
    x, y = torch.randn(32, 12), torch.randint(0, 3, (32,))
    w = net[0].weight
    norms = w.detach().norm(dim=1).clone()
    assert torch.allclose(w.detach().mean(1), torch.zeros(16), atol=1e-6)  # centered at start
    for step in range(5):
        before = w.detach().clone()
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
        after = w.detach()
        assert torch.allclose(after.norm(dim=1), norms, rtol=1e-5), step  # norm preserved
        assert torch.allclose(after.mean(1), torch.zeros(16), atol=1e-6)  # stays centered
        rate = equilibrium_rate(kind, 1e-3, 0.05)
        ang = angle(before, after)
        assert torch.allclose(ang, torch.full_like(ang, rate), rtol=1e-4), (step, ang, rate)
        # the step's change, projected on the old weight, is the renormalization only:
        # u ⟂ w exactly, so w_new·w_old = |w|^2 cos(rate)
        dots = (after.double() * before.double()).sum(1)
        assert torch.allclose(dots, norms.double() ** 2 * math.cos(rate), rtol=1e-5)


def test_equilibrium_rates_match_the_formulas():
    assert equilibrium_rate("adamw", 1e-3, 0.1) == pytest.approx(math.sqrt(2e-4 * 0.1 / 1.9))
    assert equilibrium_rate("sgdm", 0.1, 5e-4, momentum=0.9) == pytest.approx(math.sqrt(1e-4 / 1.9))
    lion = equilibrium_rate("lion", 1e-4, 1.0, betas=(0.9, 0.99))
    assert lion == pytest.approx(math.sqrt(math.pi / 2) * math.sqrt(2e-4)
                                 * math.sqrt(0.01 + 0.81 * 0.01 / 1.99))
    with pytest.raises(ValueError, match="not 'adam'"):
        equilibrium_rate("adam", 1e-3, 0.1)


def test_warmup_schedule_scales_the_angle_with_sqrt_lr():
    net = _net(1)
    opt = RotationalWrapper(net.named_parameters(), lr=1e-3, weight_decay=0.1,
                            lr_at=lambda s: 1e-3 * min(1.0, (s + 1) / 4))
    x, y = torch.randn(8, 12), torch.randint(0, 3, (8,))
    seen = []
    for _ in range(4):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
        seen.append(opt.angles["0.weight"])
    full = equilibrium_rate("adamw", 1e-3, 0.1)
    assert seen[0] == pytest.approx(full * math.sqrt(0.25), rel=1e-4)
    assert seen[3] == pytest.approx(full, rel=1e-4)
