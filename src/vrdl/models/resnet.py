"""ResNet-18 and ResNet-101 in the CIFAR variant: 3x3 stem, no max-pool (He et al. 2015).

Without batch norm the normalisation layers are removed entirely and every convolution gets a
bias instead, so each layer keeps an affine offset.
"""

from torch import nn


def _norm(channels: int, bn: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if bn else nn.Identity()


def _conv(c_in: int, c_out: int, kernel: int, stride: int, bn: bool) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=not bn)


def _shortcut(c_in: int, c_out: int, stride: int, bn: bool) -> nn.Module:
    if stride == 1 and c_in == c_out:
        return nn.Identity()
    return nn.Sequential(_conv(c_in, c_out, 1, stride, bn), _norm(c_out, bn))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, c_in: int, planes: int, stride: int, bn: bool):
        super().__init__()
        self.residual = nn.Sequential(
            _conv(c_in, planes, 3, stride, bn), _norm(planes, bn), nn.ReLU(inplace=True),
            _conv(planes, planes, 3, 1, bn), _norm(planes, bn),
        )
        self.shortcut = _shortcut(c_in, planes, stride, bn)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.residual(x) + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, c_in: int, planes: int, stride: int, bn: bool):
        super().__init__()
        c_out = planes * self.expansion
        self.residual = nn.Sequential(
            _conv(c_in, planes, 1, 1, bn), _norm(planes, bn), nn.ReLU(inplace=True),
            _conv(planes, planes, 3, stride, bn), _norm(planes, bn), nn.ReLU(inplace=True),
            _conv(planes, c_out, 1, 1, bn), _norm(c_out, bn),
        )
        self.shortcut = _shortcut(c_in, c_out, stride, bn)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.residual(x) + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, block, blocks_per_stage, num_classes, *, in_channels=3, bn=True, width=1.0):
        super().__init__()
        if width <= 0:
            raise ValueError(f"width must be positive, got {width}")
        planes = [max(1, round(64 * width * 2**i)) for i in range(4)]
        layers = [_conv(in_channels, planes[0], 3, 1, bn), _norm(planes[0], bn), nn.ReLU(inplace=True)]
        c_in = planes[0]
        for stage, (p, n_blocks) in enumerate(zip(planes, blocks_per_stage)):
            for i in range(n_blocks):
                stride = 2 if stage > 0 and i == 0 else 1
                layers.append(block(c_in, p, stride, bn))
                c_in = p * block.expansion
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(c_in, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x))


def resnet18(num_classes: int, **kwargs) -> ResNet:
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes, **kwargs)


def resnet101(num_classes: int, **kwargs) -> ResNet:
    return ResNet(Bottleneck, [3, 4, 23, 3], num_classes, **kwargs)
