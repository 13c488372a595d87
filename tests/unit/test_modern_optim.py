"""alpha-SVRG and MARS against literal transcriptions of their authors' code (davidyyd/alpha-SVRG:
svrg.py, engine.py, optim_factory.py; AGI-Arena/MARS: MARS/optimizers/mars.py, MARS/train_mars.py),
written below in the authors' style and driven the authors' way, step by step in float64 on a
tiny MLP and a tiny conv net with BatchNorm (so 1-D, 2-D and 4-D tensors all occur). Our classes
are driven the way src/vrdl/train.py drives SVRG and STORM."""

import copy
import io
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vrdl.gradients import Objective, ReferenceGradients, minibatch_gradient
from vrdl.optim.alpha_svrg import AlphaSVRG, linear_coefficient
from vrdl.optim.mars import MARS
from vrdl.optim.svrg import SVRG

pytestmark = pytest.mark.usefixtures("float64")

N, BATCH, EPOCHS = 40, 8, 10  # 5 steps an epoch, 50 steps in all


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))


def convnet() -> nn.Module:
    # no conv bias: before BN its gradient is rounding noise, which Adam's normalisation blows up
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 3, 3, bias=False), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(48, 3))


MODELS = {"mlp": (mlp, (6,)), "convnet": (convnet, (1, 6, 6))}


def epochs_of_batches(shape, epochs=EPOCHS, extra_batch=False):
    """Each epoch: a new order of the same N samples, in batches of BATCH. Inputs scaled by 3 so
    that MARS's per-tensor clipping of c_t triggers in some steps and not in others."""
    g = torch.Generator().manual_seed(1)
    x, y = 3 * torch.randn(N, *shape, generator=g), torch.randint(0, 3, (N,), generator=g)
    out = []
    for _ in range(epochs):
        order = torch.randperm(N, generator=g)
        out.append([(x[order[s : s + BATCH]], y[order[s : s + BATCH]]) for s in range(0, N, BATCH)])
    if extra_batch:  # train_mars.py's exact scheme reads one batch ahead
        out.append(out[0][:1])
    return out


def drive(model, optimizer, epochs, start=0):
    """The calls src/vrdl/train.py's _train_epoch makes (same-minibatch reference gradient, taken
    with a copy of the model); yields after each step. Steps before `start` are skipped, so that
    a resumed optimizer continues where another stopped."""
    objective = Objective()
    reference = ReferenceGradients(model, objective)
    model.train()
    t = 0
    for epoch, batches in enumerate(epochs, start=1):
        if t + len(batches) <= start:
            t += len(batches)
            continue
        if t >= start and isinstance(optimizer, SVRG) and optimizer.snapshot_due(epoch):
            optimizer.take_snapshot()
            mu, _ = reference.full(optimizer.reference_params(), batches)
            optimizer.set_full_gradient(mu)
        for x, y in batches:
            if t >= start:
                minibatch_gradient(model, objective, x, y)
                params = optimizer.reference_params()
                optimizer.step(None if params is None else reference.at(params, x, y))
                yield t
            t += 1


def trajectory(model, optimizer, epochs) -> list[list[torch.Tensor]]:
    return [[p.detach().clone() for p in model.parameters()] for _ in drive(model, optimizer, epochs)]


def assert_same_trajectory(ours, theirs):
    assert len(ours) == len(theirs) == EPOCHS * N // BATCH
    for t, (mine, want) in enumerate(zip(ours, theirs, strict=True)):
        for i, (a, b) in enumerate(zip(mine, want, strict=True)):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=f"step {t + 1}, tensor {i}")


# ---------------------------------------------------------------------------- alpha-SVRG, the authors' way


def authors_create_optimizer(opt, model, lr, weight_decay, momentum=0.9):
    """optim_factory.create_optimizer with filter_bias_and_bn: 1-D tensors and biases undecayed;
    'sgd' is Nesterov SGD with --momentum (0.9), 'adamw' AdamW with eps 1e-8 and torch's betas."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if len(param.shape) == 1 or name.endswith(".bias"):
            no_decay.append(param)
        else:
            decay.append(param)
    parameters = [{"weight_decay": weight_decay, "params": decay}, {"weight_decay": 0.0, "params": no_decay}]
    if opt == "sgd":
        return torch.optim.SGD(parameters, momentum=momentum, nesterov=True, lr=lr, weight_decay=0.0)
    return torch.optim.AdamW(parameters, lr=lr, weight_decay=0.0, eps=1e-8)


def authors_svrg_scheduler(coefficient, epochs, niter_per_ep, snapshot_pass_freq):
    partitions = range(0, niter_per_ep, snapshot_pass_freq)
    end_values = np.linspace(coefficient, 0, epochs * len(partitions))
    values = []
    for i in range(epochs):
        for k, start in enumerate(partitions):
            index = i * len(partitions) + k
            end = min(niter_per_ep, start + snapshot_pass_freq)
            values.append(np.full(end - start, end_values[index]))
    return np.concatenate(values, axis=0)


def authors_alpha_svrg(model, optim, epochs, coefficient):
    """engine.train_one_epoch with use_cache_svrg=True and Cache_SVRG (svrg.py): at each epoch's
    start a pass over the epoch's batches at the snapshot caches every minibatch gradient (the
    RNG replay gives the steps the same batches); step k uses grad + (full - mini[k]) * coef."""
    niter = len(epochs[0])
    schedule = authors_svrg_scheduler(coefficient, len(epochs), niter, niter)
    weights = [w for group in optim.param_groups for w in group["params"]]
    out = []
    model.train(True)
    for epoch, batches in enumerate(epochs):
        optim.zero_grad()
        mini_batch_grads = []
        for samples, targets in batches:  # cache_svrg_snapshot_pass
            F.cross_entropy(model(samples), targets).backward()
            mini_batch_grads.append([w.grad.clone() for w in weights])
            optim.zero_grad()
        full_batch_grad = [torch.mean(torch.stack(grads, axis=0), dim=0) for grads in zip(*mini_batch_grads)]
        for curr_step, (samples, targets) in enumerate(batches):
            coefficient = torch.full((len(weights),), schedule[epoch * niter + curr_step])
            mini_batch_grad = mini_batch_grads[curr_step]
            F.cross_entropy(model(samples), targets).backward()
            for i, weight in enumerate(weights):  # update_grad
                weight.grad = weight.grad.data + (full_batch_grad[i] - mini_batch_grad[i]) * coefficient[i]
            optim.step()
            optim.zero_grad()
            out.append([p.detach().clone() for p in model.parameters()])
    return out


ALPHA_SVRG_BASES = {
    "sgd": dict(lr=0.05, base="sgd", momentum=0.9, nesterov=True, weight_decay=0.01),
    "adamw": dict(lr=0.01, base="adamw", weight_decay=0.05),
}


@pytest.mark.parametrize("model_name", MODELS)
@pytest.mark.parametrize("base", ALPHA_SVRG_BASES)
def test_alpha_svrg_matches_the_authors_code(model_name, base):
    build, shape = MODELS[model_name]
    epochs = epochs_of_batches(shape)
    hp = ALPHA_SVRG_BASES[base]

    theirs_model = build()
    optim = authors_create_optimizer(base, theirs_model, hp["lr"], hp["weight_decay"])
    theirs = authors_alpha_svrg(theirs_model, optim, epochs, coefficient=0.75)

    model = build()
    opt = AlphaSVRG(model.parameters(), alpha0=0.75, schedule="linear", total_snapshots=EPOCHS, **hp)
    ours = trajectory(model, opt, epochs)
    assert_same_trajectory(ours, theirs)
    assert opt.current_alpha() == 0.0


def test_alpha_svrg_corrects_the_gradient_by_the_coefficient():
    """Not a no-op: with alpha_0 = 0 the run is the base optimizer's and differs from alpha-SVRG's."""
    build, shape = MODELS["mlp"]
    epochs = epochs_of_batches(shape, epochs=2)
    finals = []
    for alpha0 in (0.0, 0.75):
        model = build()
        opt = AlphaSVRG(model.parameters(), lr=0.05, base="sgd", alpha0=alpha0, schedule="constant")
        finals.append(trajectory(model, opt, epochs)[-1])
    model = build()
    plain = torch.optim.SGD(model.parameters(), lr=0.05)
    for batches in epochs:
        for x, y in batches:
            minibatch_gradient(model, Objective(), x, y)
            plain.step()
    for a, b, c in zip(finals[0], finals[1], model.parameters(), strict=True):
        torch.testing.assert_close(a, c.detach(), rtol=0, atol=0)
        assert not torch.allclose(a, b)


def test_linear_schedule_is_numpy_linspace_and_ends_at_zero():
    for intervals in (1, 2, 7, 10):
        expected = np.linspace(0.75, 0, intervals)
        assert [linear_coefficient(0.75, k, intervals) for k in range(intervals)] == list(expected)


def test_alpha_svrg_last_interval_is_the_plain_base_step():
    torch.manual_seed(0)
    layer = nn.Linear(3, 2)
    opt = AlphaSVRG(layer.parameters(), lr=0.1, base="sgd", alpha0=0.75, total_snapshots=3, snapshot_every=2)
    alphas = []
    for _ in range(3):
        opt.take_snapshot()
        opt.set_full_gradient([torch.randn_like(p) for p in layer.parameters()])
        alphas.append(opt.current_alpha())
    assert alphas == [0.75, 0.375, 0.0]
    plain = copy.deepcopy(layer)
    for p, q in zip(layer.parameters(), plain.parameters(), strict=True):
        p.grad = torch.randn_like(p)
        q.grad = p.grad.clone()
    opt.step([torch.randn_like(p) for p in layer.parameters()])  # any g_B(w~): its weight is 0
    torch.optim.SGD(plain.parameters(), lr=0.1).step()
    for p, q in zip(layer.parameters(), plain.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    with pytest.raises(RuntimeError, match="total_snapshots=3"):
        opt.take_snapshot()
    assert [opt.snapshot_due(e) for e in range(1, 7)] == [True, False, True, False, True, False]


# ---------------------------------------------------------------------------- MARS, the authors' way


def authors_update_fn(p, grad, exp_avg, exp_avg_sq, lr, wd, beta1, beta2, last_grad, eps, step, gamma,
                      is_grad_2d, optimize_1d, lr_1d_factor, betas_1d, weight_decay_1d, clipped):
    """update_fn of MARS/optimizers/mars.py for mars_type='mars-adamw', amsgrad=False; appends to
    `clipped` whether c_t was clipped."""
    if optimize_1d or is_grad_2d:
        c_t = (grad - last_grad).mul(gamma * (beta1 / (1.0 - beta1))).add(grad)
        c_t_norm = torch.norm(c_t)
        clipped.append(bool(c_t_norm > 1.0))
        if c_t_norm > 1.0:
            c_t = c_t / c_t_norm
        exp_avg.mul_(beta1).add_(c_t, alpha=1.0 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(c_t, c_t, value=1.0 - beta2)
        bias_correction1 = 1.0 - beta1**step
        bias_correction2 = 1.0 - beta2**step
        denom = exp_avg_sq.sqrt().mul(1 / math.sqrt(bias_correction2)).add(eps).mul(bias_correction1)
        real_update_tmp = -lr * torch.mul(p.data, wd).add(exp_avg.div(denom))
        p.data.add_(real_update_tmp)
    else:
        beta1_1d, beta2_1d = betas_1d
        exp_avg.mul_(beta1_1d).add_(grad, alpha=1.0 - beta1_1d)
        exp_avg_sq.mul_(beta2_1d).addcmul_(grad, grad, value=1.0 - beta2_1d)
        bias_correction1 = 1.0 - beta1_1d**step
        bias_correction2 = 1.0 - beta2_1d**step
        denom = exp_avg_sq.sqrt().mul(1 / math.sqrt(bias_correction2)).add(eps).mul(bias_correction1)
        real_update_tmp = -lr * lr_1d_factor * torch.mul(p.data, weight_decay_1d).add(exp_avg.div(denom))
        p.data.add_(real_update_tmp)


class AuthorsMARS:
    """MARS.step, update_previous_grad and update_last_grad of MARS/optimizers/mars.py."""

    def __init__(self, params, lr=3e-3, betas=(0.95, 0.99), eps=1e-8, weight_decay=0.0, gamma=0.025,
                 is_approx=True, optimize_1d=False, lr_1d=3e-3, betas_1d=(0.9, 0.95), weight_decay_1d=0.1):
        self.params = list(params)
        self.state = {p: {} for p in self.params}
        self.lr, self.betas, self.eps, self.weight_decay, self.gamma = lr, betas, eps, weight_decay, gamma
        self.is_approx, self.optimize_1d, self.lr_1d_factor = is_approx, optimize_1d, lr_1d / lr
        self.betas_1d, self.weight_decay_1d = betas_1d, weight_decay_1d
        self.clipped = []

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def update_last_grad(self):
        if not self.is_approx:
            for p in self.params:
                state = self.state[p]
                if "last_grad" not in state:
                    state["last_grad"] = torch.zeros_like(p)
                state["last_grad"].zero_().add_(state["previous_grad"], alpha=1.0)

    @torch.no_grad()
    def update_previous_grad(self):
        if not self.is_approx:
            for p in self.params:
                state = self.state[p]
                if "previous_grad" not in state:
                    state["previous_grad"] = torch.zeros_like(p)
                state["previous_grad"].zero_().add_(p.grad, alpha=1.0)

    @torch.no_grad()
    def step(self):
        for p in self.params:
            grad = p.grad.data
            state = self.state[p]
            if len(state) <= 1:
                state["step"] = 0
                state["exp_avg"] = torch.zeros_like(p.data)
                state["last_grad"] = torch.zeros_like(p)
                state["exp_avg_sq"] = torch.zeros_like(p.data)
            state["step"] += 1
            beta1, beta2 = self.betas
            authors_update_fn(p, grad, state["exp_avg"], state["exp_avg_sq"], self.lr, self.weight_decay, beta1,
                              beta2, state["last_grad"], self.eps, state["step"], self.gamma,
                              is_grad_2d=len(grad.shape) == 2, optimize_1d=self.optimize_1d,
                              lr_1d_factor=self.lr_1d_factor, betas_1d=self.betas_1d,
                              weight_decay_1d=self.weight_decay if self.optimize_1d else self.weight_decay_1d,
                              clipped=self.clipped)
            if self.is_approx:
                state["last_grad"] = grad


def authors_mars_loop(model, optimizer, batches):
    """MARS/train_mars.py's loop: with scheme='exact' and is_approx=False it first takes, at the
    current iterate, the gradient of the NEXT batch (previous_grad), which becomes last_grad of
    the next step; so step t sees g_t(w_{t-1}). Returns the iterate after each step."""
    out = []
    model.train()
    for t in range(len(batches) - 1):
        if not optimizer.is_approx:
            X, Y = batches[t + 1]
            F.cross_entropy(model(X), Y).backward()
            optimizer.update_previous_grad()
            optimizer.zero_grad()
        X, Y = batches[t]
        F.cross_entropy(model(X), Y).backward()
        optimizer.step()
        optimizer.zero_grad()
        optimizer.update_last_grad()
        out.append([p.detach().clone() for p in model.parameters()])
    return out


MARS_SETTINGS = {
    "approx": dict(exact=False),
    "exact": dict(exact=True),
    "approx-every-tensor": dict(exact=False, mars_on_every_tensor=True),
    "exact-every-tensor": dict(exact=True, mars_on_every_tensor=True),
}


@pytest.mark.parametrize("model_name", MODELS)
@pytest.mark.parametrize("setting", MARS_SETTINGS)
def test_mars_matches_the_authors_code(model_name, setting):
    build, shape = MODELS[model_name]
    epochs = epochs_of_batches(shape, extra_batch=True)
    hp = dict(lr=0.02, weight_decay=0.01, lr_1d=0.01)  # lr_1d != lr and decay on, to see both used
    kw = MARS_SETTINGS[setting]

    theirs_model = build()
    authors = AuthorsMARS(theirs_model.parameters(), is_approx=not kw["exact"],
                          optimize_1d=kw.get("mars_on_every_tensor", False), **hp)
    theirs = authors_mars_loop(theirs_model, authors, [b for batches in epochs for b in batches])
    # the per-tensor clipping of c_t did act, and not always
    assert 0 < sum(authors.clipped) < len(authors.clipped)

    model = build()
    opt = MARS(model.parameters(), **hp, **kw)
    ours = trajectory(model, opt, epochs[:-1])
    assert_same_trajectory(ours, theirs)


def test_mars_default_routes_only_2d_tensors_through_mars():
    """With gamma = 0 and no clipping MARS is AdamW with its own betas; the default sends the conv
    kernel (4-D) and BN/bias (1-D) tensors to the 1-D AdamW (betas_1d) instead."""
    model = convnet()
    opt = MARS(model.parameters(), gamma=0.0, betas=(0.5, 0.6), betas_1d=(0.9, 0.95), weight_decay_1d=0.0)
    for p in model.parameters():
        p.grad = torch.full_like(p, 1e-3)
    opt.step()
    for p in model.parameters():
        beta1 = 0.5 if p.dim() == 2 else 0.9
        torch.testing.assert_close(opt.state[p]["exp_avg"], torch.full_like(p, (1 - beta1) * 1e-3))


def test_mars_approx_asks_for_no_second_gradient_and_exact_does_after_the_first_step():
    layer = nn.Linear(2, 2)
    for exact in (False, True):
        opt = MARS(layer.parameters(), exact=exact)
        assert opt.reference_params() is None
        for p in layer.parameters():
            p.grad = torch.ones_like(p)
        before = [p.detach().clone() for p in layer.parameters()]
        opt.step()
        if exact:
            for r, w in zip(opt.reference_params(), before, strict=True):
                torch.testing.assert_close(r, w, rtol=0, atol=0)
            with pytest.raises(RuntimeError, match="w_"):
                opt.step()
        else:
            assert opt.reference_params() is None
            with pytest.raises(RuntimeError, match="no reference"):
                opt.step([torch.ones_like(p) for p in layer.parameters()])


# ---------------------------------------------------------------------------- both


def build_alpha_svrg(params):
    return AlphaSVRG(params, lr=0.01, base="adamw", weight_decay=0.05, total_snapshots=EPOCHS)


def build_alpha_svrg_sgd(params):
    return AlphaSVRG(params, lr=0.05, base="sgd", momentum=0.9, total_snapshots=EPOCHS)


def build_mars_exact(params):
    return MARS(params, lr=0.02, exact=True)


def build_mars_approx(params):
    return MARS(params, lr=0.02, weight_decay=0.01)


@pytest.mark.parametrize("build_opt", [build_alpha_svrg, build_alpha_svrg_sgd, build_mars_exact, build_mars_approx])
def test_state_dict_round_trip_mid_run_continues_identically(build_opt):
    """Stop after step 23 (mid-epoch, mid snapshot interval), save as the trainer's checkpoint does
    (torch.save, then torch.load with weights_only=True) into a fresh model and optimizer."""
    stop = 23
    epochs = epochs_of_batches(MODELS["convnet"][1])
    model = convnet()
    opt = build_opt(model.parameters())
    steps = drive(model, opt, epochs)
    for t in steps:
        if t == stop - 1:
            break
    buf = io.BytesIO()
    torch.save(dict(model=model.state_dict(), optimizer=opt.state_dict()), buf)
    list(steps)  # the uninterrupted run

    buf.seek(0)
    saved = torch.load(buf, weights_only=True)
    resumed = convnet()
    resumed.load_state_dict(saved["model"])
    resumed_opt = build_opt(resumed.parameters())
    resumed_opt.load_state_dict(saved["optimizer"])
    list(drive(resumed, resumed_opt, epochs, start=stop))
    for key, value in model.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value, rtol=0, atol=0, msg=key)


@pytest.mark.parametrize("cls,kwargs,name", [
    (AlphaSVRG, dict(lr=-0.1, total_snapshots=3), "lr"),
    (AlphaSVRG, dict(lr=0.1, alpha0=-0.5, total_snapshots=3), "alpha0"),
    (AlphaSVRG, dict(lr=0.1, alpha0=float("nan"), total_snapshots=3), "alpha0"),
    (AlphaSVRG, dict(lr=0.1, schedule="cosine", total_snapshots=3), "schedule"),
    (AlphaSVRG, dict(lr=0.1, schedule="optimal", total_snapshots=3), "optimal"),
    (AlphaSVRG, dict(lr=0.1, base="adam", total_snapshots=3), "base"),
    (AlphaSVRG, dict(lr=0.1), "total_snapshots"),
    (AlphaSVRG, dict(lr=0.1, total_snapshots=0), "total_snapshots"),
    (AlphaSVRG, dict(lr=0.1, total_snapshots=3, snapshot_every=0), "snapshot_every"),
    (AlphaSVRG, dict(lr=0.1, total_snapshots=3, weight_decay=-1.0), "weight_decay"),
    (AlphaSVRG, dict(lr=0.1, total_snapshots=3, base="sgd", momentum=1.0), "momentum"),
    (AlphaSVRG, dict(lr=0.1, total_snapshots=3, base="sgd", nesterov=True), "nesterov"),
    (AlphaSVRG, dict(lr=0.1, total_snapshots=3, base="sgd", betas=(0.9, 0.99)), "betas"),
    (AlphaSVRG, dict(lr=0.1, total_snapshots=3, base="adamw", momentum=0.9), "momentum"),
    (AlphaSVRG, dict(lr=0.1, total_snapshots=3, betas=(0.9, 1.0)), "betas"),
    (AlphaSVRG, dict(lr=0.1, total_snapshots=3, eps=0.0), "eps"),
    (MARS, dict(lr=0.0), "lr"),
    (MARS, dict(lr_1d=-1.0), "lr_1d"),
    (MARS, dict(eps=0.0), "eps"),
    (MARS, dict(gamma=-0.1), "gamma"),
    (MARS, dict(weight_decay=-0.1), "weight_decay"),
    (MARS, dict(weight_decay_1d=-0.1), "weight_decay_1d"),
    (MARS, dict(betas=(0.95, 1.0)), "betas"),
    (MARS, dict(betas_1d=(-0.1, 0.9)), "betas_1d"),
    (MARS, dict(betas=(0.9,)), "betas"),
    (MARS, dict(exact="yes"), "exact"),
    (MARS, dict(mars_on_every_tensor=1), "mars_on_every_tensor"),
])
def test_bad_hyperparameters_raise_naming_them(cls, kwargs, name):
    with pytest.raises(ValueError, match=name):
        cls(nn.Linear(2, 2).parameters(), **kwargs)


def test_constant_schedule_needs_no_total_and_defaults_are_the_authors():
    opt = AlphaSVRG(nn.Linear(2, 2).parameters(), lr=0.1, schedule="constant")
    group = opt.param_groups[0]
    assert (group["alpha0"], group["base"], group["snapshot_every"], group["betas"], group["eps"]) == (
        0.75, "adamw", 1, (0.9, 0.999), 1e-8)
    group = MARS(nn.Linear(2, 2).parameters()).param_groups[0]
    assert {k: group[k] for k in ("lr", "betas", "eps", "weight_decay", "gamma", "exact", "mars_on_every_tensor",
                                  "lr_1d", "betas_1d", "weight_decay_1d")} == dict(
        lr=3e-3, betas=(0.95, 0.99), eps=1e-8, weight_decay=0.0, gamma=0.025, exact=False,
        mars_on_every_tensor=False, lr_1d=3e-3, betas_1d=(0.9, 0.95), weight_decay_1d=0.1)
