"""Writes crates/fastburn/tests/fixtures/lr_find_fastai.json: loss curves of the shape lr_find
sweeps give (flat, falling, blowing up; smoothed as fastai's Recorder smooths them, with noise),
and what fastai 2.8's four suggestion functions say about each, called as `Learner.lr_find` calls
them (the first num_it//10 points and the last 5 left out, cut at the first NaN).

    pip install fastai
    python scripts/make_lr_find_fixture.py crates/fastburn/tests/fixtures/lr_find_fastai.json
"""
import json
import sys

import numpy as np
import torch
from fastai.callback.schedule import minimum, slide, steep, valley

rng = np.random.default_rng(0)
cases = []
for name, num_it, points, fall_at, blow_at, noise, nan_at in [
    ("typical", 100, 100, 30, 80, 0.02, None),
    ("noisy", 100, 100, 20, 70, 0.08, None),
    ("stopped early", 100, 64, 40, 55, 0.03, None),
    ("nan at the end", 100, 100, 25, 75, 0.02, 90),
    ("long sweep", 300, 300, 90, 250, 0.05, None),
]:
    lrs = [1e-7 * (10 / 1e-7) ** (i / num_it) for i in range(points)]
    raw = []
    for i in range(points):
        if i < fall_at:
            v = 2.3
        elif i < blow_at:
            v = 2.3 - 2.0 * (i - fall_at) / (blow_at - fall_at)
        else:
            v = 0.3 + 0.4 * (i - blow_at) ** 1.5
        raw.append(v * (1 + noise * rng.standard_normal()))
    # fastai's Recorder: an exponential moving average with debiasing (beta 0.98).
    avg, smooth = 0.0, []
    for i, v in enumerate(raw):
        avg = 0.98 * avg + 0.02 * v
        smooth.append(avg / (1 - 0.98 ** (i + 1)))
    if nan_at is not None:
        smooth[nan_at:] = [float("nan")] * (points - nan_at)
    lrs_t, losses_t = torch.tensor(lrs[num_it // 10 : -5]), torch.tensor(smooth[num_it // 10 : -5])
    nan_idxs = torch.nonzero(torch.isnan(losses_t.view(-1)))
    if len(nan_idxs) > 0:
        drop = min(nan_idxs)
        lrs_t, losses_t = lrs_t[:drop], losses_t[:drop]
    out = {}
    for f in [valley, slide, minimum, steep]:
        lr, (x, y) = f(lrs_t, losses_t, num_it)
        out[f.__name__] = {"lr": float(lr), "mark": [float(x), float(y)]}
    cases.append(
        {
            "name": name,
            "num_it": num_it,
            "lrs": lrs,
            "losses": [None if np.isnan(v) else float(np.float32(v)) for v in smooth],
            "suggestions": out,
        }
    )
    print(name, {k: round(v["lr"], 9) for k, v in out.items()})
with open(sys.argv[1], "w") as f:
    json.dump(cases, f)
