"""The Python side of bench/serve.sh: fastai's `learn.predict` behind FastAPI, answering
POST /predict as `fastburn serve` does (raw image body or multipart field `image`, the same JSON).

    FASTAI_DATA=DIR FASTAI_MODEL=simple-net|resnet18 uvicorn serve_fastai:app --workers N

DIR is an MNIST_SAMPLE-layout folder (train/3, train/7, valid/...): fastai's `learn.predict`
needs the DataLoaders' transforms and vocab. The model is the same architecture as fastburn's,
untrained (throughput does not depend on the weights):

- simple-net: fastai's chapter-4 `simple_net` on the flattened 28x28 grey image, with two outputs
  for cross-entropy (fastburn's has one, for the sigmoid: 30 fewer multiply-adds);
- resnet18: `vision_learner(dls, resnet18, pretrained=False, n_in=1)`, as fastburn's 1-channel
  ResNet-18 with fastai's head.

`learn.predict` is not thread-safe (it swaps the learner's DataLoader and callbacks), so each
uvicorn worker serves one request at a time; run several workers to use several cores, as one
deploys fastai. Each worker gets TORCH_THREADS threads (default 1) so workers do not contend.
"""

import io
import os

import torch
from fastai.vision.all import (
    CategoryBlock,
    CrossEntropyLossFlat,
    DataBlock,
    GrandparentSplitter,
    ImageBlock,
    Learner,
    PILImageBW,
    get_image_files,
    parent_label,
    resnet18,
    vision_learner,
)
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from torch import nn

torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "1")))
torch.manual_seed(42)  # every worker the same weights

path = os.environ["FASTAI_DATA"]
arch = os.environ.get("FASTAI_MODEL", "simple-net")
dblock = DataBlock(
    blocks=(ImageBlock(cls=PILImageBW), CategoryBlock),
    get_items=get_image_files,
    splitter=GrandparentSplitter(train_name="train", valid_name="valid"),
    get_y=parent_label,
)
dls = dblock.dataloaders(path, bs=64, num_workers=0)
if arch == "resnet18":
    learn = vision_learner(dls, resnet18, pretrained=False, n_in=1, loss_func=CrossEntropyLossFlat())
else:
    net = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 30), nn.ReLU(), nn.Linear(30, 2))
    learn = Learner(dls, net, loss_func=CrossEntropyLossFlat())

app = FastAPI()


@app.get("/health")
def health():
    return {"status": "ok"}


@app.post("/predict")
async def predict(request: Request):
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        data = await form["image"].read()
    else:
        data = await request.body()
    try:
        img = PILImageBW.create(io.BytesIO(data))
    except Exception as e:  # noqa: BLE001 - any decoding failure is the client's
        return JSONResponse({"error": f"not a readable image ({e})"}, status_code=400)
    with learn.no_bar(), learn.no_logging():
        cls, idx, probs = learn.predict(img)
    return {
        "class": str(cls),
        "probability": float(probs[idx]),
        "probabilities": {str(c): float(p) for c, p in zip(learn.dls.vocab, probs)},
    }
