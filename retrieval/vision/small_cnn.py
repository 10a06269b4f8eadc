"""A small CNN trained from scratch, for small grey images (28 × 28, e.g. Fashion-MNIST) where an ImageNet backbone
is the wrong tool: every thumbnail would be upscaled to 224-260 px (13-27 minutes of one core per pass over 70,000
images at the measured 11-23 ms per image) to describe 784 grey pixels.

Three conv blocks (32/64/128 channels, batch norm, max-pool), two dense layers with dropout; AdamW with a one-cycle
learning rate; random shifts and mirror images as augmentation, and the mirror image averaged in at prediction.
About 8 M multiply-adds per image. On Fashion-MNIST: 93.1% test accuracy after 12 epochs (README).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from tqdm import tqdm

SIZE = 28


class SmallCnn(nn.Module):
    def __init__(self, classes: int) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)
            )

        self.features = nn.Sequential(block(1, 32), block(32, 64), block(64, 128))
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(128 * 3 * 3, 256),
            nn.ReLU(),
            nn.Dropout(0.3),
            nn.Linear(256, classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))  # type: ignore[no-any-return]


@dataclass(frozen=True)
class EpochReport:
    epoch: int
    loss: float
    holdout_accuracy: float | None


def to_tensor(images: npt.NDArray[np.uint8]) -> torch.Tensor:
    """n × 28 × 28 uint8 → n × 1 × 28 × 28 float in [-1, 1]."""
    return torch.from_numpy((images.astype(np.float32) - 127.5) / 127.5)[:, None]


def augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random mirror and a shift of up to 2 pixels (zero padding), per batch."""
    if torch.rand(1, generator=generator).item() < 0.5:
        batch = batch.flip(3)
    dx, dy = (int(v) for v in torch.randint(-2, 3, (2,), generator=generator))
    padded = nn.functional.pad(batch, (2, 2, 2, 2), value=-1.0)
    return padded[:, :, 2 + dy : 2 + dy + SIZE, 2 + dx : 2 + dx + SIZE]


def predict(model: SmallCnn, images: torch.Tensor, batch_size: int = 1000) -> npt.NDArray[np.int64]:
    """Classes of `images`: softmax averaged over each image and its mirror image (the training augmentation)."""
    model.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size]
            p = model(batch).softmax(1) + model(batch.flip(3)).softmax(1)
            out.append(p.argmax(1).numpy())
    return np.concatenate(out).astype(np.int64)


def train_small_cnn(
    images: npt.NDArray[np.uint8],
    labels: npt.NDArray[np.int64],
    classes: int,
    epochs: int = 12,
    batch_size: int = 128,
    holdout: tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]] | None = None,
    on_epoch: Callable[[EpochReport], object] | None = None,
    seed: int = 0,
    progress: bool = True,
) -> SmallCnn:
    """Train on `images` (n × 28 × 28 uint8) and `labels`; reports each epoch (with holdout accuracy when given)."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    x, y = to_tensor(images), torch.from_numpy(labels.astype(np.int64))
    model = SmallCnn(classes)
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=5e-4)
    steps = epochs * ((len(x) + batch_size - 1) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=3e-3, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss()
    hold_x = to_tensor(holdout[0]) if holdout is not None else None
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        batches = range(0, len(x), batch_size)
        for start in tqdm(batches, desc=f"epoch {epoch}/{epochs}", unit="batch", disable=not progress, leave=False):
            idx = order[start : start + batch_size]
            optimiser.zero_grad()
            loss = loss_fn(model(augment(x[idx], generator)), y[idx])
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item() * len(idx)
        accuracy = None
        if hold_x is not None and holdout is not None:
            accuracy = float(np.mean(predict(model, hold_x) == holdout[1]))
        if on_epoch is not None:
            on_epoch(EpochReport(epoch, total / len(x), accuracy))
    return model
