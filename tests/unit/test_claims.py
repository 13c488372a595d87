"""The claims table's logic on constructed results: the noise estimate each comparison uses
(several seeds, folds only, neither), the decisive factor, runs that did not learn, the claims
on results shaped like the paper's and against it."""

import math

import pandas as pd
import pytest

from vrdl.claims import (
    CLAIMS,
    DECISIVE,
    FAILS,
    HOLDS,
    MISSING,
    NO_NOISE,
    NO_NOISE_SOURCE,
    NOT_LEARNED,
    WITHIN_NOISE,
    Estimate,
    LowerLoss,
    Run,
    TuneSpread,
    chance_threshold,
    compare,
    did_not_learn,
    estimates,
    evaluate_claims,
    learning_failure,
)


def run(final_loss, grad_evals=(0, 100, 200), start=2.3, acc=0.8, name="seed 1"):
    """A 10-class run whose test loss falls from `start` to `final_loss`, ending at accuracy `acc`."""
    losses = [start, (start + final_loss) / 2, final_loss][: len(grad_evals)]
    curve = pd.DataFrame({"grad_evals": list(grad_evals), "eval_loss": losses,
                          "eval_acc": [0.1] + [acc] * (len(grad_evals) - 1)})
    return Run(curve, num_classes=10, n_eval=10_000, name=name)


def seeds(*losses, **kw):
    return [run(loss, name=f"seed {i + 1}", **kw) for i, loss in enumerate(losses)]


def test_losses_are_compared_at_the_common_gradient_budget():
    # SVRG spends twice the gradients per epoch: compare both at 200, where SVRG is at epoch 1
    est = estimates({"sgd": [run(0.5)], "svrg": [run(0.1, grad_evals=(0, 200, 400))]})
    assert est["sgd"].mean == 0.5 and est["svrg"].mean == pytest.approx((2.3 + 0.1) / 2)


# ---------------------------------------------------------------------------- noise estimates


def test_several_seeds_use_the_standard_error_of_the_seed_mean():
    est = estimates({"sgd": seeds(0.5, 0.6, 0.7)}, {"sgd": TuneSpread(std=9.0, runs=4, seeds=1)})["sgd"]
    assert est.mean == pytest.approx(0.6)
    assert est.noise == pytest.approx(0.1 / math.sqrt(3))  # std (ddof 1) 0.1 over 3 seeds
    assert est.source == "seed spread (3 seeds)"  # the seeds win over the fold spread


def test_one_seed_with_folds_uses_the_fold_spread_unscaled():
    est = estimates({"sgd": [run(0.5)]}, {"sgd": TuneSpread(std=0.03, runs=4, seeds=1)})["sgd"]
    assert est.noise == 0.03 and est.source == "fold spread (4 folds)"
    labels = [TuneSpread(0.1, 8, 2).label, TuneSpread(0.1, 3, 3).label]
    assert labels == ["tune-run spread (4 folds × 2 seeds)", "tune-seed spread (3 seeds)"]


@pytest.mark.parametrize("spread", [None, TuneSpread(std=math.nan, runs=1, seeds=1)])
def test_one_seed_and_a_hold_out_split_has_no_noise_estimate(spread):
    est = estimates({"sgd": [run(0.5)]}, {"sgd": spread} if spread else None)["sgd"]
    assert est.noise is None and est.source == NO_NOISE_SOURCE


@pytest.mark.parametrize("a,b,verdict", [
    (Estimate(1.0, 0.1), Estimate(1.5, 0.1), HOLDS),   # gap 0.5 > 2 x 0.14
    (Estimate(1.5, 0.1), Estimate(1.0, 0.1), FAILS),
    (Estimate(1.0, 0.1), Estimate(1.2, 0.1), WITHIN_NOISE),  # gap 0.2 < 2 x 0.14
    (Estimate(1.0, None), Estimate(1.5, 0.1), NO_NOISE),
    (Estimate(1.0, None), Estimate(1.01, None), NO_NOISE),  # one seed decides nothing, however small
    (Estimate(1.0, 0.1, learned=False), Estimate(9.0, 0.1), NOT_LEARNED),  # before the noise rule
])
def test_a_gap_decides_only_beyond_the_decisive_factor_of_its_noise(a, b, verdict):
    assert compare(a, b).verdict == verdict


def test_the_decisive_factor_is_the_boundary():
    noise = math.hypot(0.1, 0.1)
    assert compare(Estimate(1.0, 0.1), Estimate(1.0 + DECISIVE * noise * 1.01, 0.1)).verdict == HOLDS
    assert compare(Estimate(1.0, 0.1), Estimate(1.0 + DECISIVE * noise * 0.99, 0.1)).verdict == WITHIN_NOISE


# ---------------------------------------------------------------------------- the claims


def results(lenet_vr, resnet_on_svrg, resnet_off_svrg, metainit_with, n_seeds=3, spread=0.01):
    """Paper-shaped studies: every optimizer's seeds scatter by +-spread around its loss."""
    def s(loss):
        return seeds(*[loss + spread * d for d in (-1, 0, 1)][:n_seeds]) if n_seeds > 1 else seeds(loss)

    finals = {
        ("lenet_mnist", "off"): {"sgd": s(0.30), "adam": s(0.32), "adagrad": s(0.35),
                                 "svrg": s(lenet_vr), "storm": s(lenet_vr)},
        ("resnet18_cifar10", "on"): {"sgd": s(0.40), "adam": s(0.45), "svrg": s(resnet_on_svrg)},
        ("resnet18_cifar10", "off"): {"sgd": s(0.60), "adam": s(0.70), "svrg": s(resnet_off_svrg)},
    }
    models = {"lenet_mnist": "lenet", "resnet18_cifar10": "resnet18"}
    metainit = {"with": s(metainit_with), "without": s(1.0)}
    return finals, models, metainit


def verdicts(*args, **kw):
    return [c.verdict for c in evaluate_claims(*results(*args, **kw))]


def test_the_papers_conclusions_hold_on_results_shaped_like_the_paper():
    got = verdicts(lenet_vr=0.25, resnet_on_svrg=0.5, resnet_off_svrg=0.61, metainit_with=0.98)
    assert got == [HOLDS] * 5 + [MISSING] * 2


def test_the_claims_fail_on_results_that_contradict_them():
    assert verdicts(lenet_vr=0.40, resnet_on_svrg=0.3, resnet_off_svrg=0.9, metainit_with=0.5) == [
        FAILS, FAILS, FAILS, HOLDS, FAILS, MISSING, MISSING]


def test_seed_noise_larger_than_the_gaps_makes_every_claim_inconclusive():
    got = verdicts(lenet_vr=0.25, resnet_on_svrg=0.5, resnet_off_svrg=0.61, metainit_with=0.98, spread=0.5)
    assert got == [WITHIN_NOISE] * 5 + [MISSING] * 2


def test_one_seed_without_folds_decides_nothing_and_shows_the_gaps():
    claims = evaluate_claims(*results(0.40, 0.3, 0.9, 0.5, n_seeds=1))
    assert [c.verdict for c in claims] == [NO_NOISE] * 5 + [MISSING] * 2
    assert all(c.noise == NO_NOISE_SOURCE for c in claims[:5])
    # LeNet: svrg 0.40 vs the best other, sgd 0.30: the claimed way is negative
    assert "svrg 0.4 vs best of sgd, adam, adagrad (sgd) 0.3: gap -0.1, noise unknown" in claims[0].evidence


def test_one_seed_with_folds_decides_on_the_fold_spread():
    finals, models, metainit = results(0.25, 0.5, 0.61, 0.98, n_seeds=1)
    spreads = {key: {name: TuneSpread(0.005, 4, 1) for name in runs} for key, runs in finals.items()}
    claims = evaluate_claims(finals, models, metainit, spreads)
    # MetaInit has no tuning, so no noise estimate; the studies' claims use their fold spread
    assert [c.verdict for c in claims] == [HOLDS] * 4 + [NO_NOISE] + [MISSING] * 2
    assert claims[0].noise == "fold spread (4 folds)" and claims[4].noise == NO_NOISE_SOURCE
    wide = {key: {name: TuneSpread(0.5, 4, 1) for name in runs} for key, runs in finals.items()}
    assert [c.verdict for c in evaluate_claims(finals, models, metainit, wide)][:4] == [WITHIN_NOISE] * 4


def test_missing_studies_are_reported_as_not_run():
    claims = evaluate_claims({("lenet_mnist", "off"): {"sgd": seeds(0.3, 0.31), "svrg": seeds(0.2, 0.21)}},
                             {"lenet_mnist": "lenet"})
    assert [c.verdict for c in claims] == [HOLDS] + [MISSING] * 6


def test_a_new_claim_is_one_declaration():
    finals = {("resnet18_cifar10", "on"): {"svrg": seeds(0.5, 0.51), "alpha_svrg": seeds(0.3, 0.31)},
              ("lenet_mnist", "off"): {"svrg": seeds(0.1, 0.11), "alpha_svrg": seeds(0.3, 0.31)}}
    claim = LowerLoss("alpha-SVRG beats SVRG on the ResNets", lower=("alpha_svrg",), higher=("svrg",),
                      models=("resnet",))
    [result] = evaluate_claims(finals, {"resnet18_cifar10": "resnet18", "lenet_mnist": "lenet"},
                               claims=[claim])
    assert result.verdict == HOLDS and "lenet" not in result.evidence
    assert len(CLAIMS) == 7


@pytest.mark.parametrize("offset,expected", [
    (-0.05, HOLDS),         # below SVRG on both ResNet settings, below Adam everywhere
    (0.05, FAILS),
    (-0.005, WITHIN_NOISE),  # seed noise of each mean ~0.006
])
def test_alpha_svrg_and_mars_claims(offset, expected):
    finals, models, metainit = results(0.25, 0.5, 0.61, 0.98)
    for (study, _), runs in finals.items():
        runs["mars"] = results_seeds(losses_of(runs["adam"]) + offset)
        if study.startswith("resnet"):
            runs["alpha_svrg"] = results_seeds(losses_of(runs["svrg"]) + offset)
    claims = evaluate_claims(finals, models, metainit)
    assert [c.verdict for c in claims[5:]] == [expected, expected]
    assert claims[5].claim.startswith("alpha-SVRG beats SVRG on the ResNets")
    # alpha-SVRG vs SVRG in both ResNet settings, none on LeNet; MARS vs Adam in all three
    assert claims[5].evidence.count("resnet18_cifar10 BN") == 2 and "lenet" not in claims[5].evidence
    assert claims[6].evidence.count("vs adam") == 3


def losses_of(runs):
    """The mean final test loss of constructed runs."""
    return sum(float(r.curve["eval_loss"].iloc[-1]) for r in runs) / len(runs)


def results_seeds(loss, spread=0.01):
    return seeds(*[loss + spread * d for d in (-1, 0, 1)])


# ---------------------------------------------------------------------------- did not learn


def test_chance_margin():
    assert chance_threshold(10, None) == pytest.approx(0.15)
    assert chance_threshold(100, 10_000) == pytest.approx(0.015)
    # a guesser on 256 images scatters by sqrt(0.09 / 256) = 0.019: three of those are more
    assert chance_threshold(10, 256) == pytest.approx(0.1 + 3 * math.sqrt(0.09 / 256))


@pytest.mark.parametrize("learned_run,why", [
    (run(0.3, acc=0.12), "final test acc. 0.12 ≤ 0.15 (chance 0.1)"),
    (run(2.25, acc=0.5), "test loss 2.3 at start, 2.25 at best"),  # fell 2%, not 5%
    (run(math.nan, acc=0.1), "test loss 2.3 at start, nan at best"),  # diverged
    (run(0.3, acc=0.8), None),
])
def test_a_run_did_not_learn_at_chance_accuracy_or_without_a_loss_drop(learned_run, why):
    failure = learning_failure(learned_run)
    assert failure == why if why is None else why in failure


def test_an_overfitting_run_learned():
    """Its test loss ended above its start, but it fell well below it on the way."""
    curve = pd.DataFrame({"grad_evals": [0, 1, 2], "eval_loss": [2.3, 0.5, 2.5], "eval_acc": [0.1, 0.9, 0.8]})
    assert learning_failure(Run(curve, num_classes=10)) is None


def test_claims_resting_on_runs_that_did_not_learn_are_inconclusive_first():
    finals, models, metainit = results(0.25, 0.5, 0.61, 0.98)
    # ResNet BN on: SGD at chance, however clear the gaps
    finals[("resnet18_cifar10", "on")]["sgd"] = seeds(2.29, 2.3, 2.31, start=2.3, acc=0.1)
    claims = evaluate_claims(finals, models, metainit)
    assert [c.verdict for c in claims] == [HOLDS, NOT_LEARNED, HOLDS, NOT_LEARNED, HOLDS, MISSING, MISSING]
    assert "(did not learn: sgd)" in claims[1].evidence and "(did not learn: BN on)" in claims[3].evidence
    failures = did_not_learn(finals, metainit)
    assert len(failures) == 3 and failures[0].startswith("resnet18_cifar10 BN on sgd seed 1: test loss 2.3 at start")


def test_a_claim_rests_on_every_optimizer_it_names():
    """AdaGrad is never the best other on LeNet, but "lower than AdaGrad" is part of the claim."""
    finals, models, metainit = results(0.25, 0.5, 0.61, 0.98)
    finals[("lenet_mnist", "off")]["adagrad"] = seeds(2.3, 2.3, 2.3, acc=0.1)
    assert evaluate_claims(finals, models, metainit)[0].verdict == NOT_LEARNED
