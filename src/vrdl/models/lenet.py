"""LeNet-5 (the study's shallow network) and multinomial logistic regression (a convex control)."""

from torch import nn


class LogisticRegression(nn.Sequential):
    def __init__(self, in_features: int, num_classes: int):
        super().__init__(nn.Flatten(), nn.Linear(in_features, num_classes))


class LeNet5(nn.Sequential):
    """Two 5x5 convolutions with tanh and 2x2 average pooling, then three dense layers.

    28x28 inputs are padded by 2 so both MNIST (28) and CIFAR (32) reach the classic 16x5x5
    feature map. `bn=True` puts a BatchNorm after every convolution and hidden dense layer.
    """

    def __init__(self, in_channels: int, num_classes: int, *, image_size: int = 28, bn: bool = False):
        padding = (32 - image_size) // 2
        if image_size + 2 * padding != 32:
            raise ValueError(f"LeNet-5 expects 28x28 or 32x32 images, got {image_size}x{image_size}")

        def norm2d(c):
            return [nn.BatchNorm2d(c)] if bn else []

        def norm1d(c):
            return [nn.BatchNorm1d(c)] if bn else []

        super().__init__(
            nn.Conv2d(in_channels, 6, 5, padding=padding), *norm2d(6), nn.Tanh(), nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5), *norm2d(16), nn.Tanh(), nn.AvgPool2d(2),
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), *norm1d(120), nn.Tanh(),
            nn.Linear(120, 84), *norm1d(84), nn.Tanh(),
            nn.Linear(84, num_classes),
        )
