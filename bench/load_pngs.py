"""Bench workload (PyTorch side), the chapter's own code: every PNG into one float tensor / 255.

    python load_pngs.py DATA_DIR [REPEATS]
"""
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

try:  # the chapter's `tensor()` is fastai's
    from fastai.torch_core import tensor
except ImportError:  # pragma: no cover
    def tensor(x):
        return torch.tensor(np.array(x))

root = Path(sys.argv[1])
repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
times = []
for _ in range(repeats + 1):
    start = time.perf_counter()
    files = []
    for split in ("train", "valid"):
        for digit in ("3", "7"):
            files += sorted((root / split / digit).ls() if hasattr(root, "ls") else (root / split / digit).iterdir())
    stacked = torch.stack([tensor(Image.open(o)) for o in files]).float() / 255
    times.append(time.perf_counter() - start)
times = times[1:]
print(json.dumps({"images": stacked.shape[0], "median_s": statistics.median(times), "threads": torch.get_num_threads()}))
