"""One LeNet epoch on Fashion-MNIST (60k, batch 32, SGD): vrdl's loop against a conventional
loop written the usual way (torchvision dataset, DataLoader, per-sample ToTensor + Normalize,
`loss.item()` every step), same model, same optimizer settings, same process."""

import copy

import torch
import torchvision
import torchvision.transforms as T
from _common import headline, parser, setup, timed, torchvision_fashion_mnist_root, vrdl_data_dir

from vrdl import train as vrdl_train
from vrdl.models import build_model


def conventional_epoch(model, dataset, device, batch_size, max_steps):
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    criterion = torch.nn.CrossEntropyLoss()
    running_loss, correct = 0.0, 0
    for step, (x, y) in enumerate(loader):
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        out = model(x)
        loss = criterion(out, y)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
        correct += (out.argmax(1) == y).sum().item()
        if step + 1 == max_steps:
            break
    return running_loss


def main():
    p = parser(__doc__)
    p.add_argument("--steps", type=int, default=None, help="time only this many steps of each loop")
    args = p.parse_args()
    device = setup(args)
    cfg = vrdl_train.RunConfig(dataset="fashion_mnist", model="lenet", optimizer="sgd", lr=0.01,
                               epochs=1, batch_size=32)
    train, _ = vrdl_train.load_splits(cfg, vrdl_data_dir(args.source_dir), device)
    if args.steps:
        train.x, train.y = train.x[: args.steps * 32], train.y[: args.steps * 32]
    steps = -(-len(train) // 32)
    torch.manual_seed(1)
    model = build_model("lenet", num_classes=10, in_channels=1, image_size=28, bn=False).to(device)
    model_ours = copy.deepcopy(model)

    dataset = torchvision.datasets.FashionMNIST(str(torchvision_fashion_mnist_root(args.source_dir)), train=True,
                                                transform=T.Compose([T.ToTensor(), T.Normalize((0.286,), (0.353,))]))
    base_s = timed(lambda: conventional_epoch(model, dataset, device, 32, steps), device)

    optimizer = vrdl_train.build_optimizer("sgd", model_ours.parameters(), lr=0.01)
    result = {}
    objective = vrdl_train.Objective()
    ours_s = timed(lambda: result.update(
        out=vrdl_train._train_epoch(cfg, 1, model_ours, objective, optimizer, None, train)), device)
    _, loss_sum, _, n_steps = result["out"]
    assert n_steps == steps and torch.isfinite(loss_sum)
    print(f"{steps} steps of batch 32 on {device} (threads {torch.get_num_threads()})")
    print(f"conventional loop: {base_s:.2f} s ({base_s / steps * 1e3:.2f} ms/step)")
    print(f"vrdl loop:         {ours_s:.2f} s ({ours_s / steps * 1e3:.2f} ms/step)")
    headline("epoch_time", base_s / ours_s)


if __name__ == "__main__":
    main()
