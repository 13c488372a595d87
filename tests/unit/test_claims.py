"""The claims table's logic on constructed results: where a claim is judged (end of training,
common budget, along the budget), runs shorter than the protocol, the noise estimate each
comparison uses (several seeds, the bootstrap over test examples, neither), the decisive factor,
runs that did not learn, the claims on results shaped like the paper's and against it."""

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
    NOT_REACHED,
    SHORT,
    WITHIN_NOISE,
    Estimate,
    LowerLoss,
    Run,
    chance_threshold,
    compare,
    declared_claims,
    did_not_learn,
    estimates,
    evaluate_claims,
    learning_failure,
)


def run(final_loss, grad_evals=(0, 100, 200), start=2.3, acc=0.8, name="seed 1", epochs=None, middle=None):
    """A 10-class run whose test loss falls from `start` to `final_loss` (through `middle`),
    ending at accuracy `acc`; `epochs`: what it was set to run (None: unknown)."""
    middle = (start + final_loss) / 2 if middle is None else middle
    losses = [start, middle, final_loss][: len(grad_evals)]
    curve = pd.DataFrame({"grad_evals": list(grad_evals), "eval_loss": losses,
                          "eval_acc": [0.1] + [acc] * (len(grad_evals) - 1)})
    return Run(curve, num_classes=10, n_eval=10_000, name=name, epochs=epochs, n_train=100)


def seeds(*losses, **kw):
    return [run(loss, name=f"seed {i + 1}", **kw) for i, loss in enumerate(losses)]


def test_losses_are_compared_at_the_common_gradient_budget():
    # SVRG spends twice the gradients per epoch: compare both at 200, where SVRG is at epoch 1
    est = estimates({"sgd": [run(0.5)], "svrg": [run(0.1, grad_evals=(0, 200, 400))]})
    assert est["sgd"].mean == 0.5 and est["svrg"].mean == pytest.approx((2.3 + 0.1) / 2)


# ---------------------------------------------------------------------------- noise estimates


def test_several_seeds_use_the_standard_error_of_the_seed_mean():
    est = estimates({"sgd": seeds(0.5, 0.6, 0.7)})["sgd"]
    assert est.mean == pytest.approx(0.6)
    assert est.noise == pytest.approx(0.1 / math.sqrt(3))  # std (ddof 1) 0.1 over 3 seeds
    assert est.source == "seeds' standard error (3 seeds)"


def blocked(final_loss, spread, **kw):
    """A one-seed run whose 64 test blocks scatter by +-spread around each row's loss."""
    base = run(final_loss, **kw)
    offsets = [spread * (1 if i % 2 else -1) for i in range(64)]
    blocks = tuple(tuple(loss + d for d in offsets) for loss in base.curve["eval_loss"])
    return Run(base.curve, base.num_classes, base.n_eval, base.name, blocks=blocks)


def test_one_seed_uses_the_bootstrap_over_test_examples():
    est = estimates({"sgd": [blocked(0.5, 0.1)]})["sgd"]
    assert est.source.startswith("bootstrap over test examples")
    assert est.noise == pytest.approx(0.1 / 8, rel=0.1)  # std 0.1 over 64 blocks


def test_the_gap_of_one_seed_each_is_a_paired_bootstrap():
    """Two runs whose blocks move together: their gap is certain although each loss scatters."""
    e = estimates({"sgd": [blocked(0.5, 0.2)], "svrg": [blocked(0.45, 0.2)]})
    part = compare(e["svrg"], e["sgd"])
    assert part.noise == pytest.approx(0.0, abs=1e-9) and part.verdict == HOLDS
    assert part.sources == ("paired bootstrap over test examples (64 blocks, 1 seed)",)
    unpaired = math.hypot(e["svrg"].noise, e["sgd"].noise)
    assert unpaired == pytest.approx(math.hypot(0.2 / 8, 0.2 / 8), rel=0.15)  # each side alone


def test_one_seed_without_test_blocks_has_no_noise_estimate():
    est = estimates({"sgd": [run(0.5)]})["sgd"]
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


# ---------------------------------------------------------------------------- where a claim is judged


def lenet(svrg_epochs, sgd_epochs, svrg_middle=None):
    """LeNet finals of 3 seeds: SVRG spends twice SGD's gradients per epoch; it ends lower (0.2
    vs 0.3) but is worse at SGD's last budget (its first epoch: `svrg_middle`)."""
    def s(loss, grad_evals, epochs, middle=None):
        return [run(loss + d, grad_evals=grad_evals, epochs=epochs, middle=middle, name=f"seed {i}")
                for i, d in enumerate((-0.01, 0.0, 0.01))]

    return {("lenet_mnist", "off"): {"sgd": s(0.3, (0, 100, 200), sgd_epochs),
                                     "svrg": s(0.2, (0, 200, 400), svrg_epochs, svrg_middle)}}


def test_the_study_claims_are_judged_at_the_end_of_its_protocol():
    finals = lenet(100, 100, svrg_middle=0.6)
    [claim] = evaluate_claims(finals, {"lenet_mnist": "lenet"}, claims=CLAIMS[:1])
    assert claim.verdict == HOLDS and claim.at == "end"
    # each at its own last epoch: SVRG's 400 gradient computations against SGD's 200
    assert (claim.parts[0].a.budget, claim.parts[0].b.budget) == (400, 200)
    assert claim.parts[0].words == "SVRG vs SGD, lenet_mnist, BN off"


def test_runs_shorter_than_the_protocol_make_the_claim_inconclusive():
    [claim] = evaluate_claims(lenet(2, 2, svrg_middle=0.6), {"lenet_mnist": "lenet"}, claims=CLAIMS[:1])
    assert claim.verdict == SHORT and claim.parts[0].short == "2 epochs, the protocol 100"
    # a declared claim at a common budget is not about the protocol's end: SVRG worse at 200
    declared = declared_claims([{"name": "SVRG beats SGD", "better": "svrg", "than": ["sgd"]}])
    [at_budget] = evaluate_claims(lenet(2, 2, svrg_middle=0.6), {"lenet_mnist": "lenet"}, claims=declared)
    assert at_budget.verdict == FAILS and at_budget.parts[0].a.budget == 200


def test_the_strip_shows_where_the_ranking_flips():
    """Common budget 200 (SGD's end): SVRG is ahead at 100 (start 2.3 vs SGD's 1.3? no: SVRG has
    not finished an epoch at 100), behind at 200; beyond 200 SGD has no runs."""
    declared = declared_claims([{"name": "SVRG beats SGD", "better": "svrg", "than": ["sgd"]}])
    finals = lenet(2, 2, svrg_middle=0.6)
    finals[("lenet_mnist", "off")]["sgd"] = [run(1.2 + d, grad_evals=(0, 100, 200), middle=0.1 + d, epochs=2,
                                                 name=f"seed {i}") for i, d in enumerate((-0.01, 0.0, 0.01))]
    [claim] = evaluate_claims(finals, {"lenet_mnist": "lenet"}, claims=declared)
    # per training example (100): SGD 0.1 vs SVRG 2.3 at 1, SGD 1.2 vs SVRG 0.6 at 2
    assert claim.strip == ((1.0, FAILS), (2.0, HOLDS), (4.0, NOT_REACHED))
    assert claim.flips == [2.0] and claim.verdict == HOLDS


def test_the_decisive_comparison_is_the_clearest_gap_of_runs_that_learned():
    finals, models, metainit = results(0.40, 0.3, 0.9, 0.5, n_seeds=1)  # one seed, no blocks: no noise
    finals[("resnet101_cifar100", "on")] = {"sgd": seeds(0.500), "svrg": seeds(0.40)}
    finals[("resnet101_cifar100", "off")] = {"sgd": seeds(0.505), "svrg": seeds(0.5)}
    models["resnet101_cifar100"] = "resnet101"
    claim = evaluate_claims(finals, models, metainit, titles={"resnet18_cifar10": "ResNet-18 on CIFAR-10"})[3]
    assert claim.verdict == NO_NOISE
    # BN helps: ResNet-18 sgd by 0.2, svrg by 0.6; ResNet-101 sgd by 0.005, svrg by 0.1: the clearest decides
    assert claim.decisive.words == "SVRG with BN vs without, ResNet-18 on CIFAR-10"
