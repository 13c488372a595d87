import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vrdl.metainit import gradient_quotient, metainit

pytestmark = pytest.mark.usefixtures("float64")


def tiny_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))


def test_gradient_quotient_matches_an_explicit_hessian():
    model = tiny_net()
    x, y = torch.randn(5, 3), torch.tensor([0, 1, 1, 0, 1])
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])

    def loss_of(theta):
        chunks = torch.split(theta, [s.numel() for s in shapes])
        params = {n: c.view(s) for n, c, s in zip(names, chunks, shapes, strict=True)}
        return F.cross_entropy(torch.func.functional_call(model, params, (x,)), y)

    g = torch.autograd.functional.jacobian(loss_of, flat)
    hessian = torch.autograd.functional.hessian(loss_of, flat)
    eps = 1e-5
    damped = g + eps * torch.where(g >= 0, 1.0, -1.0)
    expected = ((g - hessian @ g) / damped - 1).abs().mean()
    torch.testing.assert_close(gradient_quotient(model, x, y, eps).detach(), expected)


def test_metainit_rescales_weight_norms_only_and_lowers_gq():
    model = tiny_net()
    with torch.no_grad():  # a badly scaled start
        for p in model.parameters():
            if p.dim() >= 2:
                p.mul_(4.0)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    g = torch.Generator().manual_seed(0)
    result = metainit(model, lambda step: (torch.randn(16, 3, generator=g), torch.randint(0, 2, (16,), generator=g)),
                      steps=30, lr=0.05, momentum=0.9, eps=1e-5)
    assert result["gq_after"] < result["gq_before"]
    for name, p in model.named_parameters():
        old = before[name]
        if p.dim() >= 2:
            assert not torch.allclose(p.norm(), old.norm())
            torch.testing.assert_close(p / p.norm(), old / old.norm())  # direction kept
        else:
            assert torch.equal(p, old)  # biases untouched
