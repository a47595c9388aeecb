"""Writes a small folder of real photographs for the fine-tune bench (scikit-image's photos):

    python make_photos.py DIR [TRAIN_PER_CLASS] [VALID_PER_CLASS]

Four classes (cat, coffee, astronaut, rocket), each from one photo: square crops of different
places and scales (60-95% of the shorter side, so their sizes differ), saved as grey PNG and colour
JPEG in turn, under DIR/train/<class> and DIR/valid/<class>. Both sides of the bench read this
folder; crops are square so that fastai's Resize (crop) and fastburn's resize see the same pixels.
"""
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

root = Path(sys.argv[1])
n_train = int(sys.argv[2]) if len(sys.argv) > 2 else 12
n_valid = int(sys.argv[3]) if len(sys.argv) > 3 else 8
rng = np.random.default_rng(0)
for name, photo in [("cat", data.chelsea()), ("coffee", data.coffee()),
                    ("astronaut", data.astronaut()), ("rocket", data.rocket())]:
    img = Image.fromarray(photo)
    w, h = img.size
    for split, n in [("train", n_train), ("valid", n_valid)]:
        folder = root / split / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            side = int(min(w, h) * rng.uniform(0.6, 0.95))
            x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
            crop = img.crop((x, y, x + side, y + side))
            if i % 2 == 0:
                crop.convert("L").save(folder / f"{i}.png")
            else:
                crop.convert("RGB").save(folder / f"{i}.jpg", quality=90)
