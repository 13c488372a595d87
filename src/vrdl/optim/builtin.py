"""Builders of the torch.optim optimizers of the study (named by vrdl.optim.registry)."""

import torch


def sgd(params, lr: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, momentum=0.0, weight_decay=0.0, foreach=True)


def adam(params, lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, foreach=True)


def adagrad(params, lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adagrad(params, lr=lr, foreach=True)
