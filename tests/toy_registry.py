"""A user's own data set and model, one registry entry each: what adding them takes. The registry
tests import this module (tests/unit/test_registries.py) or copy it beside a workflow's vrdl and
import it there (tests/workflow/test_registries.py). No torch at import, as the registries."""

from vrdl.datasets import Dataset, register
from vrdl.models import Model
from vrdl.models import register as register_model

TRAIN, TEST, CLASSES, SIZE = 96, 32, 4, 8


def read_toy(root):
    """Generated, not read (there are no raw files): 8x8 grey images of noise whose brightest
    quadrant is the class, in the prepared format (uint8 images [N, 1, 8, 8], int64 labels)."""
    import torch

    g = torch.Generator().manual_seed(0)
    parts = {}
    for split, n in (("train", TRAIN), ("test", TEST)):
        y = torch.arange(n) % CLASSES
        x = torch.randint(0, 100, (n, 1, SIZE, SIZE), generator=g, dtype=torch.uint8)
        half = SIZE // 2
        for label in range(CLASSES):
            rows, cols = divmod(label, 2)
            x[y == label, :, rows * half:(rows + 1) * half, cols * half:(cols + 1) * half] += 150
        parts[f"{split}_x"], parts[f"{split}_y"] = x, y
    return parts


def tiny_mlp(*, num_classes, in_channels, image_size, bn, width):
    """One hidden layer of 16 x width units, with BatchNorm1d under --bn."""
    from torch import nn

    hidden = max(1, round(16 * width))
    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * image_size * image_size, hidden),
                         *([nn.BatchNorm1d(hidden)] if bn else []), nn.ReLU(), nn.Linear(hidden, num_classes))


register(Dataset("toy", "quadrant noise images (generated)", channels=1, image_size=SIZE, num_classes=CLASSES,
                 train_size=TRAIN, reader=f"{__name__}:read_toy", raw_files="none (generated; any directory)"))
register_model(Model("tiny_mlp", "a one-hidden-layer MLP", tiny_mlp, "toy", width=True, stackable=True))
