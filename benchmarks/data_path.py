"""Images/s of vrdl's device-side input pipeline against the conventional one (torchvision
dataset + DataLoader + per-sample transforms), same data, same process.

Two cases: Fashion-MNIST batches of 32 (normalise only, the LeNet study) and CIFAR-shaped batches
of 128 with pad-4 crop + flip + normalise (the ResNet studies; CIFAR itself is not on this
machine, so real Fashion-MNIST images are tiled to 3x32x32 and wrapped in torchvision's CIFAR10
class). Headline: the smaller of the two speedups.
"""

import numpy as np
import torch
import torchvision
import torchvision.transforms as T
from _common import headline, parser, setup, timed, torchvision_fashion_mnist_root, vrdl_data_dir

from vrdl import data


def conventional(dataset, batch_size, device, max_batches):
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=0)
    n = 0
    for i, (x, y) in enumerate(loader):
        x, y = x.to(device), y.to(device)  # noqa: B007 (the copy is part of the pipeline)
        n += len(y)
        if i + 1 == max_batches:
            break
    return n


def ours(split, batch_size, max_batches):
    n = 0
    for i, (_, y) in enumerate(split.batches(split.epoch_plan(1, 1), batch_size)):
        n += len(y)
        if i + 1 == max_batches:
            break
    return n


def cifar_like(images: torch.Tensor) -> torchvision.datasets.CIFAR10:
    """torchvision's CIFAR10 class holding the given 3x32x32 uint8 images (HWC numpy inside)."""
    ds = torchvision.datasets.CIFAR10.__new__(torchvision.datasets.CIFAR10)
    ds.root, ds.train = "", True
    ds.data = images.permute(0, 2, 3, 1).numpy()
    ds.targets = np.zeros(len(images), dtype=np.int64).tolist()
    ds.transform = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
                              T.Normalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))])
    ds.target_transform = None
    return ds


def measure(name, dataset, split, batch_size, device, batches):
    base_n = [0]
    ours_n = [0]
    base_s = timed(lambda: base_n.__setitem__(0, conventional(dataset, batch_size, device, batches)), device)
    ours_s = timed(lambda: ours_n.__setitem__(0, ours(split, batch_size, batches * 20)), device)
    base_rate, ours_rate = base_n[0] / base_s, ours_n[0] / ours_s
    print(f"{name}: conventional {base_rate:,.0f} img/s, vrdl {ours_rate:,.0f} img/s, "
          f"speedup {ours_rate / base_rate:.1f}x")
    return ours_rate / base_rate


def main():
    p = parser(__doc__)
    p.add_argument("--batches", type=int, default=200, help="conventional batches to time per case")
    args = p.parse_args()
    device = setup(args)
    parts = data.load("fashion_mnist", vrdl_data_dir(args.source_dir))
    mean, std = data.channel_stats(parts["train_x"])

    root = torchvision_fashion_mnist_root(args.source_dir)
    fmnist = torchvision.datasets.FashionMNIST(str(root), train=True, transform=T.Compose(
        [T.ToTensor(), T.Normalize(mean.tolist(), std.tolist())]))
    split = data.DeviceSplit(parts["train_x"].to(device), parts["train_y"].to(device), mean, std)
    mnist_speedup = measure("fashion_mnist b32 (normalise)", fmnist, split, 32, device, args.batches)

    images = torch.nn.functional.pad(parts["train_x"][:20000], (2, 2, 2, 2)).expand(-1, 3, -1, -1).contiguous()
    cifar = cifar_like(images)
    mean3, std3 = data.channel_stats(images)
    split3 = data.DeviceSplit(images.to(device), parts["train_y"][:20000].to(device), mean3, std3, augment=True)
    cifar_speedup = measure("cifar-shaped b128 (crop+flip+normalise)", cifar, split3, 128, device,
                            max(args.batches // 4, 10))
    print(f"device: {device}")
    headline("data_path", min(mnist_speedup, cifar_speedup))


if __name__ == "__main__":
    main()
