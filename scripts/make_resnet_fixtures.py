"""Writes the ResNet fixtures of crates/fastburn/tests/imagenet.rs: torchvision ResNets with
torchvision's own blocks and parameter names, narrowed so the files stay small, and the logits
PyTorch computes with them on the two photos of make_imagenet_fixtures.py.

    pip install torch torchvision
    python scripts/make_resnet_fixtures.py crates/fastburn/tests/fixtures/imagenet

torchvision's ResNet has stage widths 64-128-256-512 written into its constructor; the narrow
ones here run that constructor's steps with another width (ResNet-18 at 4: 4-8-16-32, ResNet-50
at 2 with bottleneck blocks: 2-4-8-16, times 4 out of each block) and 10 classes, so a full
network's every kind of parameter name and shape rule is in a file of ~200 KB rather than 45 MB.
Weights: torchvision's initialisation, then BatchNorm's weights, biases and running statistics
drawn at random (as trained ones are not 1 and 0), seeded.

- resnet18_w4.pth, resnet50_w2.pth: the state dicts, as torch.save writes them (zip format);
- resnet_logits.json: for each file and photo, the 10 logits in eval mode on
  (pixels / 255 - ImageNet mean) / ImageNet std.
"""
import json
import os
import sys

import numpy as np
import torch
from PIL import Image
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet


class NarrowResNet(ResNet):
    """torchvision's ResNet.__init__, step for step, with `width` for its 64."""

    def __init__(self, block, layers, width, num_classes):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = width
        self.dilation = 1
        self.groups = 1
        self.base_width = 64
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, 2 * width, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 4 * width, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 8 * width, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8 * width * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


out = sys.argv[1]
torch.manual_seed(0)
mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
photos = {
    name: torch.from_numpy(
        np.asarray(Image.open(os.path.join(out, f"{name}.png")).convert("RGB"), dtype=np.float32)
        / 255
    ).permute(2, 0, 1)[None]
    for name in ["cat", "coffee"]
}
result = {}
for file, block, layers, width in [
    ("resnet18_w4.pth", BasicBlock, [2, 2, 2, 2], 4),
    ("resnet50_w2.pth", Bottleneck, [3, 4, 6, 3], 2),
]:
    model = NarrowResNet(block, layers, width, 10)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(100)
    model.eval()
    torch.save(model.state_dict(), os.path.join(out, file))
    result[file] = {}
    for name, x in photos.items():
        with torch.no_grad():
            logits = model((x - mean) / std)[0]
        result[file][name] = [float(v) for v in logits]
        print(file, name, [round(float(v), 4) for v in logits[:4]])
with open(os.path.join(out, "resnet_logits.json"), "w") as f:
    json.dump(result, f, indent=1)
