"""Bench workload (fastai side): the chapter's ResNet-18 on MNIST_SAMPLE.

    python resnet_fastai.py DATA_DIR [steps|epoch [SEED]]

steps: a training step's time (batch of 64, 3-channel 28x28 as fastai loads MNIST), GFLOP/s;
epoch: `vision_learner(dls, resnet18, pretrained=False, loss_func=F.cross_entropy,
metrics=accuracy).fit_one_cycle(1, 0.1)`, timed, with its accuracy.
"""
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from fastai.vision.all import ImageDataLoaders, Path, accuracy, resnet18, set_seed, vision_learner

def resnet18_macs(n_in, size):
    """Multiply-accumulates of one forward pass (the same count as bench/resnet.rs)."""
    def out(s, stride): return -(-s // stride)
    def conv(s, c_in, c_out, k): return s * s * c_in * c_out * k * k
    s = out(size, 2)
    macs = conv(s, n_in, 64, 7)
    s, c = out(s, 2), 64
    for i, c_out in enumerate([64, 128, 256, 512]):
        stride = 1 if i == 0 else 2
        s_out = out(s, stride)
        macs += conv(s_out, c, c_out, 3) + conv(s_out, c_out, c_out, 3)
        if stride != 1 or c != c_out:
            macs += conv(s_out, c, c_out, 1)
        macs += 2 * conv(s_out, c_out, c_out, 3)
        s, c = s_out, c_out
    return macs + 1024 * 512 + 512 * 2


path = Path(sys.argv[1])
mode = sys.argv[2] if len(sys.argv) > 2 else "steps"
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 42
set_seed(seed)
dls = ImageDataLoaders.from_folder(path)
learn = vision_learner(dls, resnet18, pretrained=False, loss_func=F.cross_entropy, metrics=accuracy)

if mode == "epoch":
    with learn.no_bar(), learn.no_logging():
        start = time.perf_counter()
        learn.fit_one_cycle(1, 0.1)
        seconds = time.perf_counter() - start
    train_loss, valid_loss, acc = (float(v) for v in learn.recorder.values[-1])
    print(json.dumps({"seed": seed, "seconds": seconds, "accuracy": acc,
                      "train_loss": train_loss, "valid_loss": valid_loss}))
else:
    model = learn.model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.randn(64, 3, 28, 28), torch.randint(0, 2, (64,))
    times = []
    for i in range(12):
        t = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        if i >= 2:
            times.append(time.perf_counter() - t)
    step = statistics.median(times)
    macs = resnet18_macs(3, 28)
    print(json.dumps({"bs": 64, "step_s": step, "gflops": 3 * 2 * macs * 64 / step / 1e9}))
