"""Bench workload (fastai side): the chapter's own code for its two Learners, timed around
`learn.fit` only, without progress bar or logging. The pair of fits runs REPEATS times (default
5), each from seed 42, as bench_train does; it prints each model's times and accuracies.

    python train_fastai.py DATA_DIR [REPEATS]
"""
import json
import sys
import time

import torch
from fastai.vision.all import (DataLoader, DataLoaders, Learner, Path, SGD, Image, nn,
                               set_seed, tensor)

path = Path(sys.argv[1])
repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5


def stack(folder):
    return torch.stack([tensor(Image.open(o)) for o in (path / folder).ls().sorted()]).float() / 255


threes, sevens = stack('train/3'), stack('train/7')
valid_3, valid_7 = stack('valid/3'), stack('valid/7')
train_x = torch.cat([threes, sevens]).view(-1, 28 * 28)
train_y = tensor([1] * len(threes) + [0] * len(sevens)).unsqueeze(1)
valid_x = torch.cat([valid_3, valid_7]).view(-1, 28 * 28)
valid_y = tensor([1] * len(valid_3) + [0] * len(valid_7)).unsqueeze(1)
dset = list(zip(train_x, train_y))
valid_dset = list(zip(valid_x, valid_y))


def mnist_loss(predictions, targets):
    predictions = predictions.sigmoid()
    return torch.where(targets == 1, 1 - predictions, predictions).mean()


def batch_accuracy(xb, yb):
    preds = xb.sigmoid()
    correct = (preds > 0.5) == yb
    return correct.float().mean()


def fit(model, epochs, lr):
    dl = DataLoader(dset, batch_size=256, shuffle=True)
    valid_dl = DataLoader(valid_dset, batch_size=256)
    learn = Learner(DataLoaders(dl, valid_dl), model, opt_func=SGD, loss_func=mnist_loss,
                    metrics=batch_accuracy)
    with learn.no_bar(), learn.no_logging():
        start = time.perf_counter()
        learn.fit(epochs, lr)
        seconds = time.perf_counter() - start
    return seconds, float(learn.recorder.values[-1][2])


runs = {"linear": [], "simple_net": []}
for _ in range(max(repeats, 1)):
    set_seed(42)  # torch, random (fastai's DataLoader shuffles with it) and numpy
    runs["linear"].append(fit(nn.Linear(28 * 28, 1), 10, 1.0))
    runs["simple_net"].append(
        fit(nn.Sequential(nn.Linear(28 * 28, 30), nn.ReLU(), nn.Linear(30, 1)), 40, 0.1))
print(json.dumps({k: {"seconds": [round(s, 4) for s, _ in v], "accuracy": [round(a, 4) for _, a in v]}
                  for k, v in runs.items()}))
