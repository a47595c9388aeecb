"""Records what fastai's `fine_tune` does, batch by batch, for crates/fastburn/tests (run with
fastai installed):

    python scripts/make_fine_tune_fixture.py crates/fastburn/tests/fixtures/fine_tune_fastai.json

A learner with two parameter groups (a body: Linear(4, 8) then BatchNorm1d(8); a head: Linear(8,
2)), Adam, 256 training items in batches of 32 (8 batches an epoch), runs
`fine_tune(2, base_lr=2e-3)`. For every training batch the file holds each group's learning rate
and momentum as the optimizer used them, and whether the body's linear weight, its bias and its
BatchNorm weight were trainable. The schedule depends on the number of batches only, not on the
data.
"""
import json
import sys

import torch
from torch import nn
from fastai.callback.core import Callback
from fastai.callback.schedule import *  # noqa: F401,F403 (fine_tune, fit_one_cycle)
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import Learner
from fastai.torch_core import params

torch.manual_seed(0)
x = torch.rand(256, 4)
y = (x.sum(1) > 2).long()
xv = torch.rand(64, 4)
yv = (xv.sum(1) > 2).long()
dls = DataLoaders(
    DataLoader(list(zip(x, y)), bs=32, shuffle=True, drop_last=True),
    DataLoader(list(zip(xv, yv)), bs=32),
)
body = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8))
model = nn.Sequential(body, nn.Linear(8, 2))
learn = Learner(
    dls,
    model,
    loss_func=nn.CrossEntropyLoss(),
    splitter=lambda m: [params(m[0]), params(m[1])],
)

rows = []


class Record(Callback):
    def after_batch(self):
        if not self.training:
            return
        rows.append(
            {
                "lr": [h["lr"] for h in self.opt.hypers],
                "mom": [h["mom"] for h in self.opt.hypers],
                "body_weight_trains": body[0].weight.requires_grad,
                "body_bias_trains": body[0].bias.requires_grad,
                "body_bn_trains": body[1].weight.requires_grad,
            }
        )


learn.fine_tune(2, base_lr=2e-3, cbs=[Record()])
with open(sys.argv[1], "w") as f:
    json.dump(
        {
            "call": "fine_tune(2, base_lr=2e-3)",
            "batches_per_epoch": 8,
            "batches": rows,
        },
        f,
        indent=1,
    )
print(f"{len(rows)} batches written to {sys.argv[1]}")
