"""Replays one fastburn `fine_tune` in fastai with fastburn's random draws.

    python fastai_replay.py DRAWS [EPOCHS]

DRAWS is what a build with `draws.patch` wrote with FB_DUMP set (the patch's header says what is
in it): fastburn's training batches in the order it took them, its head's initial weights, every
drop-connect and dropout mask, its validation batches. This builds what `fine_tune_fastai.py`
builds (the package's EfficientNet-Lite0 body with its ImageNet weights, fastai's `create_head`,
two parameter groups) and runs fastai's own `Learner.fine_tune(EPOCHS)` (default 3) on it, with
every random part replaced by fastburn's:

- the data loaders hand out fastburn's batches, epoch by epoch (nothing shuffled here);
- the head's Linear weights are fastburn's initial ones (transposed to PyTorch's layout);
- the package's `drop_connect` and the head's two Dropout layers multiply by fastburn's masks
  (and scale by 1/keep as they do), in the order fastburn drew them.

Everything else is fastai's: freezing, the two one-cycle schedules, Adam, BatchNorm, the loss.
If fastburn computes what fastai computes, the two give the same batch losses (up to float
rounding, which the steps amplify) and the same final accuracy. Prints one JSON line.
"""
import collections
import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn
from fastai.data.load import DataLoader
from fastai.vision.all import (Callback, CrossEntropyLossFlat, DataLoaders, Learner, accuracy,
                               create_head, params)
import efficientnet_lite_pytorch.model as package_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fine_tune_fastai import Body  # noqa: E402 (the bench's body, as the bench trains it)


def read(path):
    """The records of a draws file, by tag, in the order they were written."""
    records = collections.defaultdict(list)
    with open(path, "rb") as f:
        while line := f.readline():
            tag, dims = line.decode().split()
            dims = [int(d) for d in dims.split(",")]
            n = int(np.prod(dims))
            values = np.frombuffer(f.read(4 * n), dtype="<f4").reshape(dims).copy()
            records[tag].append(torch.from_numpy(values))
    return records


draws = read(sys.argv[1])
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
torch.set_num_threads(2)
masks = {tag: collections.deque(draws[tag]) for tag in ("dc", "d1", "d2")}


def drop_connect(inputs, p, training):
    """The package's drop connect with fastburn's mask instead of `torch.rand`."""
    if not training:
        return inputs
    mask = masks["dc"].popleft()
    assert mask.shape[0] == inputs.shape[0], "the masks are out of step with the forward passes"
    return inputs * (mask / (1 - p))


package_model.drop_connect = drop_connect  # model.py calls it by this name


class RecordedDropout(nn.Module):
    """`nn.Dropout(p)` with fastburn's masks instead of `bernoulli_`."""

    def __init__(self, p, tag):
        super().__init__()
        self.p, self.tag = p, tag

    def forward(self, x):
        if not self.training:
            return x
        mask = masks[self.tag].popleft()
        assert mask.shape == x.shape, "the masks are out of step with the forward passes"
        return x * mask * (1.0 / (1 - self.p))


class Recorded(DataLoader):
    """fastburn's training batches: epoch e is items [e·n, (e+1)·n) of all its batches."""

    def __init__(self, items, n, bs):
        super().__init__(items, bs=bs, drop_last=True, n=n)
        self.epoch = 0

    def get_idxs(self):
        start, self.epoch = self.epoch * self.n, self.epoch + 1
        return list(range(start, start + self.n))


n_classes = draws["lin2"][0].shape[1]
head = create_head(1280, n_classes)
linears = [m for m in head if isinstance(m, nn.Linear)]
with torch.no_grad():
    for layer, tag in zip(linears, ("lin1", "lin2")):
        layer.weight.copy_(draws[tag][0].T)
dropouts = [i for i, m in enumerate(head) if isinstance(m, nn.Dropout)]
for i, tag in zip(dropouts, ("d1", "d2")):
    head[i] = RecordedDropout(head[i].p, tag)
model = nn.Sequential(Body(), head)

# fine_tune(epochs) trains 1 + epochs epochs and validates after each.
n_fits = 1 + epochs
bs = draws["x"][0].shape[0]
per_epoch = len(draws["x"]) // n_fits * bs
train_items = list(zip(torch.cat(draws["x"]), torch.cat(draws["y"]).long()))
valid_batches = len(draws["vx"]) // n_fits
valid_items = list(zip(torch.cat(draws["vx"][:valid_batches]),
                       torch.cat(draws["vy"][:valid_batches]).long()))
dls = DataLoaders(Recorded(train_items, per_epoch, bs), DataLoader(valid_items, bs=bs))

losses = []


class BatchLosses(Callback):
    def after_loss(self):
        if self.training:
            losses.append(self.learn.loss.item())


learn = Learner(dls, model, loss_func=CrossEntropyLossFlat(), metrics=accuracy,
                splitter=lambda m: [params(m[0]), params(m[1])], cbs=BatchLosses())
with learn.no_bar(), learn.no_logging():
    learn.fine_tune(epochs)
left = {tag: len(q) for tag, q in masks.items() if q}
assert not left, f"masks left over (fewer forward passes than fastburn's): {left}"
theirs = [float(v) for v in draws["loss"]]
diffs = [abs(a - b) for a, b in zip(theirs, losses)]
valid = [float(v) for v in learn.recorder.values[-1]]
print(json.dumps({"side": "fastai, fastburn's draws", "batches": len(diffs),
                  "max_batch_loss_diff": max(diffs), "valid_loss": valid[1],
                  "accuracy": valid[2]}), flush=True)
