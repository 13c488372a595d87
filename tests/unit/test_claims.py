"""The claims table's logic on constructed results."""

import pandas as pd
import pytest

from vrdl.claims import FAILS, HOLDS, INCONCLUSIVE, MISSING, Estimate, estimates, evaluate_claims, less_than


def curve(final_loss, grad_evals=(0, 100, 200), start=2.3):
    losses = [start, (start + final_loss) / 2, final_loss][: len(grad_evals)]
    return pd.DataFrame({"grad_evals": list(grad_evals), "eval_loss": losses})


def test_losses_are_compared_at_the_common_gradient_budget():
    # SVRG spends twice the gradients per epoch: compare both at 200, where SVRG is at epoch 1
    est = estimates({"sgd": [curve(0.5)], "svrg": [curve(0.1, grad_evals=(0, 200, 400))]})
    assert est["sgd"].mean == 0.5 and est["svrg"].mean == pytest.approx((2.3 + 0.1) / 2)


@pytest.mark.parametrize("a,b,verdict", [
    (Estimate(1.0, 0.1, 3), Estimate(1.5, 0.1, 3), HOLDS),
    (Estimate(1.5, 0.1, 3), Estimate(1.0, 0.1, 3), FAILS),
    (Estimate(1.0, 0.3, 3), Estimate(1.2, 0.3, 3), INCONCLUSIVE),
    (Estimate(1.0, 0.0, 1), Estimate(1.01, 0.0, 1), HOLDS),
])
def test_less_than_respects_the_seed_spread(a, b, verdict):
    assert less_than(a, b) == verdict


def results(lenet_vr, resnet_on_svrg, resnet_off_svrg, metainit_with):
    finals = {
        ("lenet_mnist", "off"): {"sgd": [curve(0.30)], "adam": [curve(0.32)], "adagrad": [curve(0.35)],
                                 "svrg": [curve(lenet_vr)], "storm": [curve(lenet_vr)]},
        ("resnet18_cifar10", "on"): {"sgd": [curve(0.40)], "adam": [curve(0.45)], "svrg": [curve(resnet_on_svrg)]},
        ("resnet18_cifar10", "off"): {"sgd": [curve(0.60)], "adam": [curve(0.70)], "svrg": [curve(resnet_off_svrg)]},
    }
    models = {"lenet_mnist": "lenet", "resnet18_cifar10": "resnet18"}
    metainit = {"with": [curve(metainit_with)], "without": [curve(1.0)]}
    return {c.claim.split(" ")[0] + str(i): c.verdict for i, c in enumerate(evaluate_claims(finals, models, metainit))}


def test_the_papers_conclusions_hold_on_results_shaped_like_the_paper():
    verdicts = results(lenet_vr=0.25, resnet_on_svrg=0.5, resnet_off_svrg=0.61, metainit_with=0.98)
    assert list(verdicts.values()) == [HOLDS] * 5


def test_the_claims_fail_on_results_that_contradict_them():
    verdicts = results(lenet_vr=0.40, resnet_on_svrg=0.3, resnet_off_svrg=0.9, metainit_with=0.5)
    assert list(verdicts.values()) == [FAILS, FAILS, FAILS, HOLDS, FAILS]


def test_missing_studies_are_reported_as_not_run():
    claims = evaluate_claims({("lenet_mnist", "off"): {"sgd": [curve(0.3)], "svrg": [curve(0.2)]}},
                             {"lenet_mnist": "lenet"})
    assert [c.verdict for c in claims] == [HOLDS, MISSING, MISSING, MISSING, MISSING]
