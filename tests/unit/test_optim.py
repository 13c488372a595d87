"""SVRG and STORM against literal transcriptions of their algorithms, SVRG's variance reduction
on a convex problem, and the registry's checks of an optimizer's entry."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vrdl.gradients import Objective, ReferenceGradients, full_gradient
from vrdl.optim import STORM, SVRG, build_optimizer, hyperparameters, registry

pytestmark = pytest.mark.usefixtures("float64")


def least_squares(n=64, d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, d, generator=g)
    b = a @ torch.randn(d, generator=g) + 0.3 * torch.randn(n, generator=g)
    return a, b


def ls_grad(w, a, b):
    """Gradient of the mean of 0.5 (a_i . w - b_i)^2 over the rows given."""
    return a.T @ (a @ w - b) / len(b)


def minibatches(n, batch, steps, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.randperm(n, generator=g)[:batch] for _ in range(steps)]


class Linear(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(w.clone())

    def loss(self, a, b):
        return 0.5 * (a @ self.w - b).square().mean()


def test_storm_matches_algorithm_1_step_by_step():
    a, b = least_squares()
    k, c, w_param = 0.5, 10.0, 0.1
    w0 = torch.zeros(a.shape[1])
    batches = minibatches(len(b), 8, 30)

    # literal transcription of Algorithm 1 (Cutkosky & Orabona 2019)
    w = w0.clone()
    g = ls_grad(w, a[batches[0]], b[batches[0]])
    sum_g2 = g.norm() ** 2
    d = g
    expected = []
    for t in range(1, len(batches)):
        eta = k / (w_param + sum_g2) ** (1 / 3)
        w_next = w - eta * d
        a_next = min(1.0, c * eta**2)
        i = batches[t]
        g_next = ls_grad(w_next, a[i], b[i])
        sum_g2 = sum_g2 + g_next.norm() ** 2
        d = g_next + (1 - a_next) * (d - ls_grad(w, a[i], b[i]))
        w = w_next
        expected.append(w.clone())

    # ours: after consuming batch t the iterate is w_{t+2}, i.e. expected[t]
    model = Linear(w0)
    reference = Linear(w0)
    opt = STORM(model.parameters(), k=k, c=c, w=w_param)
    for t, i in enumerate(batches[:-1]):
        model.zero_grad()
        model.loss(a[i], b[i]).backward()
        ref_grads = None
        if opt.reference_params() is not None:
            reference.w.data.copy_(opt.reference_params()[0])
            reference.zero_grad()
            reference.loss(a[i], b[i]).backward()
            ref_grads = [reference.w.grad]
        opt.step(ref_grads)
        torch.testing.assert_close(model.w.detach(), expected[t], rtol=1e-12, atol=1e-12,
                                   msg=f"iterate w_{t + 2}")


def test_storm_uses_the_minus_sign():
    """With the seed's eq. 2.10 sign (+ g(w_t)) the iterates would differ from Algorithm 1."""
    a, b = least_squares()
    model = Linear(torch.zeros(a.shape[1]))
    opt = STORM(model.parameters(), k=0.5, c=10.0, w=0.1)
    i, j = torch.arange(8), torch.arange(8, 16)
    model.zero_grad()
    model.loss(a[i], b[i]).backward()
    opt.step()
    w1 = opt.reference_params()[0].clone()
    d1 = opt.state[model.w]["direction"].clone()
    a2 = float(opt.state["global"]["a"])
    model.zero_grad()
    model.loss(a[j], b[j]).backward()
    g2 = model.w.grad.clone()
    opt.step([ls_grad(w1, a[j], b[j])])
    d2 = opt.state[model.w]["direction"]
    torch.testing.assert_close(d2, g2 + (1 - a2) * (d1 - ls_grad(w1, a[j], b[j])))


def test_svrg_matches_the_textbook_update():
    a, b = least_squares()
    lr, epochs, batch = 0.05, 3, 8
    n = len(b)
    w0 = torch.zeros(a.shape[1])
    orders = [torch.randperm(n, generator=torch.Generator().manual_seed(e)) for e in range(epochs)]

    w = w0.clone()
    for order in orders:  # Johnson & Zhang: snapshot, exact full gradient, inner loop
        snapshot = w.clone()
        mu = ls_grad(snapshot, a, b)
        for s in range(0, n, batch):
            i = order[s : s + batch]
            w = w - lr * (ls_grad(w, a[i], b[i]) - ls_grad(snapshot, a[i], b[i]) + mu)

    model = Linear(w0)
    reference = Linear(w0)
    opt = SVRG(model.parameters(), lr=lr)
    for order in orders:
        opt.take_snapshot()
        reference.w.data.copy_(opt.reference_params()[0])
        reference.zero_grad()
        (0.5 * (a @ reference.w - b).square().sum() / n).backward()
        opt.set_full_gradient([reference.w.grad.clone()])
        for s in range(0, n, batch):
            i = order[s : s + batch]
            model.zero_grad()
            model.loss(a[i], b[i]).backward()
            reference.zero_grad()
            reference.loss(a[i], b[i]).backward()
            opt.step([reference.w.grad])
    torch.testing.assert_close(model.w.detach(), w, rtol=1e-12, atol=1e-12)


def test_full_gradient_is_the_exact_mean_with_stale_gradients_zeroed():
    """Original defect 4: mu accumulated into un-zeroed gradients and taken as a mean of batch
    means. With batches of 4, 4 and 2 a mean of batch means differs from the exact mean."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(10, 3, generator=g), torch.randint(0, 2, (10,), generator=g)
    model = nn.Linear(3, 2)
    for p in model.parameters():
        p.grad = torch.full_like(p, 7.0)  # stale gradients from an earlier step
    batches = [(x[:4], y[:4]), (x[4:8], y[4:8]), (x[8:], y[8:])]
    mu, n = full_gradient(model, Objective(), batches)
    assert n == 10
    per_sample = []
    for i in range(10):
        m = copy.deepcopy(model)
        m.zero_grad()
        F.cross_entropy(m(x[i : i + 1]), y[i : i + 1]).backward()
        per_sample.append([p.grad.clone() for p in m.parameters()])
    exact = [torch.stack(gs).mean(0) for gs in zip(*per_sample, strict=True)]
    for got, want in zip(mu, exact, strict=True):
        torch.testing.assert_close(got, want)
    batch_means = [torch.stack([torch.stack(gs[a:b]).mean(0) for a, b in ((0, 4), (4, 8), (8, 10))]).mean(0)
                   for gs in zip(*per_sample, strict=True)]
    assert not torch.allclose(batch_means[0], exact[0])


def test_svrg_converges_linearly_where_sgd_stalls_on_logistic_regression():
    g = torch.Generator().manual_seed(0)
    n, d, classes = 512, 10, 3
    x = torch.randn(n, d, generator=g)
    y = (x @ torch.randn(d, classes, generator=g) + 2 * torch.randn(n, classes, generator=g)).argmax(1)
    l2 = 1e-2

    def loss_fn(model, xb, yb, reduction="mean"):
        reg = l2 / 2 * model.weight.square().sum()
        ce = F.cross_entropy(model(xb), yb, reduction=reduction)
        return ce + (reg * len(yb) if reduction == "sum" else reg)

    def full_grad_norm(model):
        model.zero_grad()
        loss_fn(model, x, y).backward()
        return float(torch.cat([p.grad.flatten() for p in model.parameters()]).norm())

    def train(name, epochs=25, lr=0.5, batch=8):
        torch.manual_seed(0)
        model = nn.Linear(d, classes)
        reference = copy.deepcopy(model)
        opt = build_optimizer(name, model.parameters(), lr=lr)
        for epoch in range(epochs):
            order = torch.randperm(n, generator=torch.Generator().manual_seed(epoch))
            if name == "svrg":
                opt.take_snapshot()
                reference.load_state_dict(dict(zip(["weight", "bias"], opt.reference_params(), strict=True)))
                reference.zero_grad()
                loss_fn(reference, x, y, "sum").backward()
                opt.set_full_gradient([p.grad / n for p in reference.parameters()])
            for s in range(0, n, batch):
                i = order[s : s + batch]
                model.zero_grad()
                loss_fn(model, x[i], y[i]).backward()
                if name == "svrg":
                    reference.zero_grad()
                    loss_fn(reference, x[i], y[i]).backward()
                    opt.step([p.grad for p in reference.parameters()])
                else:
                    opt.step()
        return full_grad_norm(model)

    sgd, svrg = train("sgd"), train("svrg")
    assert svrg < 1e-5, f"SVRG should converge linearly to the optimum, |grad F| = {svrg:.2e}"
    assert sgd > 1e3 * svrg, f"SGD at the same step size should stall at its noise floor ({sgd:.2e} vs {svrg:.2e})"


@pytest.mark.parametrize("name,kwargs,expected", [
    ("sgd", dict(lr=0.3), dict(lr=0.3, momentum=0.0, weight_decay=0.0, nesterov=False)),
    ("adam", dict(lr=0.003), dict(lr=0.003, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0)),
    ("adagrad", dict(lr=0.02), dict(lr=0.02, lr_decay=0, initial_accumulator_value=0, eps=1e-10)),
    ("svrg", dict(lr=0.01, snapshot_every=3), dict(lr=0.01, snapshot_every=3)),
    ("storm", dict(k=0.37, c=12.0, w=0.2), dict(k=0.37, c=12.0, w=0.2)),
    ("mars", dict(lr=0.01, beta2_1d=0.9), dict(lr=0.01, beta1=0.95, beta2=0.99, beta1_1d=0.9, beta2_1d=0.9,
                                              gamma=0.025, exact=False)),
])
def test_hyperparameters_are_read_back_from_the_optimizer(name, kwargs, expected):
    opt = build_optimizer(name, nn.Linear(2, 2).parameters(), **kwargs)
    got = hyperparameters(opt)
    assert {k: got[k] for k in expected} == expected


@pytest.mark.parametrize("cls,kwargs", [(SVRG, dict(lr=-1.0)), (SVRG, dict(lr=0.1, snapshot_every=0.5)),
                                        (STORM, dict(k=0.0)), (STORM, dict(c=-1.0))])
def test_bad_hyperparameters_raise_naming_them(cls, kwargs):
    with pytest.raises(ValueError, match="|".join(kwargs)):
        cls(nn.Linear(2, 2).parameters(), **kwargs)


@pytest.mark.parametrize("stacked", [True, "stacked_toy"])
def test_registering_a_stacked_optimizer_without_its_update_rule_fails(stacked):
    """`stacked` names the rule train-grid runs ("module:function"); without one the entry would
    be stacked and never update."""
    with pytest.raises(ValueError, match="toy: stacked=.* names no stacked update rule"):
        registry.register(registry.Optimizer("toy", "SGD again", (), "vrdl.optim.builtin:sgd", stacked=stacked))
    assert "toy" not in registry.OPTIMIZERS


def test_reference_gradients_leave_bn_buffers_of_the_trained_model_alone():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Tanh(), nn.Linear(6, 2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    reference = ReferenceGradients(model)
    x, y = torch.randn(32, 4), torch.randint(0, 2, (32,))
    params = [p.detach().clone() for p in model.parameters()]
    reference.full(params, [(x[:16], y[:16]), (x[16:], y[16:])])
    reference.at(params, x[:8], y[:8])
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0, msg=key)
    # the passes did run in train mode: the copy's own running statistics moved
    assert not torch.equal(reference.model[1].running_mean, before["1.running_mean"])
