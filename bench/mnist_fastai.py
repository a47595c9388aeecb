"""Bench workload (fastai side): time-to-99.5% on the full MNIST, bounded by the epoch time.

    python mnist_fastai.py MNIST_PNG_DIR [EPOCHS [SEED]]

fastai's chapter recipe for all ten digits: `ImageDataLoaders.from_folder(path, train='training',
valid='testing')`, `vision_learner(dls, resnet18, pretrained=False, metrics=accuracy)`,
`fit_one_cycle(EPOCHS, 0.01)`; prints the loading time, each epoch's time and accuracy as JSON.
fastburn's ResNet-18 needed 5 epochs (then 1 more) for 99.5%, so fastai's time-to-99.5% is at
least its loading time plus 5 epoch times.
"""
import json
import sys
import time

import torch
from fastai.vision.all import (ImageDataLoaders, Path, accuracy, resnet18, set_seed,
                               vision_learner)
from fastai.callback.core import Callback


class EpochTimes(Callback):
    order = 100

    def before_fit(self):
        self.times = []

    def before_epoch(self):
        self.t = time.perf_counter()

    def after_epoch(self):
        self.times.append(time.perf_counter() - self.t)


path = Path(sys.argv[1])
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 1
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 42
torch.set_num_threads(torch.get_num_threads())
set_seed(seed)
t0 = time.perf_counter()
dls = ImageDataLoaders.from_folder(path, train="training", valid="testing")
load = time.perf_counter() - t0
learn = vision_learner(dls, resnet18, pretrained=False, metrics=accuracy, cbs=EpochTimes())
with learn.no_bar(), learn.no_logging():
    learn.fit_one_cycle(epochs, 0.01)
cb = learn.cbs.filter(lambda c: isinstance(c, EpochTimes))[0]
print(json.dumps({"load_s": load, "epoch_s": cb.times,
                  "accuracy": [float(v[2]) for v in learn.recorder.values]}))
