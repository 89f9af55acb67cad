"""Tests of experiments.convnetjs (lecture 3, Experiment 2: the ConvNetJS MNIST demo in torch).

Expected numbers are computed by hand from the slide's layer_defs and ConvNetJS's source
(output size floor((in + 2*pad - sx)/stride + 1); parameters filters*sx*sy*in_depth + filters),
not taken from the module.
"""
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from experiments import convnetjs as cj

RESULTS = Path(__file__).resolve().parent.parent / "course" / "results" / "convnetjs.md"

# Hand-computed: conv1 5*5*1*8 + 8; conv2 5*5*8*16 + 16; fc10 (softmax's desugared fc) 4*4*16*10 + 10.
CONV_PARAMS = [5 * 5 * 1 * 8 + 8, 5 * 5 * 8 * 16 + 16, 4 * 4 * 16 * 10 + 10]
# fc32 on the 24x24x1 input: 24*24*32 + 32; fc10: 32*10 + 10.
FC32_PARAMS = [24 * 24 * 32 + 32, 32 * 10 + 10]


def test_parameter_counts_match_hand_computation():
    assert CONV_PARAMS == [208, 3216, 2570] and FC32_PARAMS == [18464, 330]
    conv, fc = cj.build_network("conv"), cj.build_network("fc32")
    per_layer = lambda m: [sum(p.numel() for p in l.parameters()) for l in m if any(True for _ in l.parameters())]
    assert per_layer(conv) == CONV_PARAMS
    assert per_layer(fc) == FC32_PARAMS
    assert cj.count_parameters(conv) == 5994 and cj.count_parameters(fc) == 18794


def test_layer_shapes_follow_convnetjs_formula():
    out = lambda n, sx, stride, pad=0: (n + 2 * pad - sx) // stride + 1
    s1 = out(24, 5, 1, 2)          # conv 5x5 pad 2: 24
    p1 = out(s1, 2, 2)             # pool 2/2: 12
    s2 = out(p1, 5, 1, 2)          # 12
    p2 = out(s2, 3, 3)             # pool 3/3: 4
    assert (s1, p1, s2, p2) == (24, 12, 12, 4)
    shapes = [shape for _, shape, _ in cj.layer_table(cj.build_network("conv"))]
    assert shapes == [(1, 24, 24), (8, s1, s1), (8, s1, s1), (8, p1, p1), (16, s2, s2), (16, s2, s2),
                      (16, p2, p2), (16 * p2 * p2,), (10,)]
    shapes = [shape for _, shape, _ in cj.layer_table(cj.build_network("fc32"))]
    assert shapes == [(1, 24, 24), (576,), (32,), (32,), (10,)]
    x = torch.zeros(7, 1, 24, 24)
    assert cj.build_network("conv")(x).shape == (7, 10) and cj.build_network("fc32")(x).shape == (7, 10)
    rows = cj.layer_table(cj.build_network("conv"))
    assert sum(p for *_, p in rows) == sum(CONV_PARAMS)


def test_convnetjs_initialisation():
    for name in cj.NETWORKS:
        model = cj.build_network(name, seed=3)
        layers = [m for m in model if isinstance(m, (nn.Conv2d, nn.Linear))]
        for k, layer in enumerate(layers):
            w = layer.weight.detach()
            fan_in = w[0].numel()
            std = float(w.std())
            tol = 4 / np.sqrt(2 * w.numel())  # ~4 standard errors of a sample std
            assert abs(std / (1 / fan_in) ** 0.5 - 1) < tol, (name, k, std, fan_in)
            assert abs(float(w.mean())) < 4 * (1 / fan_in) ** 0.5 / np.sqrt(w.numel())
            want_bias = 0.0 if k == len(layers) - 1 else 0.1  # relu layers get bias_pref 0.1
            assert torch.all(layer.bias == want_bias), (name, k)
    a, b = cj.build_network("conv", seed=1), cj.build_network("conv", seed=1)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    c = cj.build_network("conv", seed=2)
    assert not torch.equal(a[0].weight, c[0].weight)


def test_crops_sizes_offsets_and_values():
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(400, 28, 28), dtype=np.uint8)
    center = cj.center_crop(imgs)
    assert center.shape == (400, 1, 24, 24) and center.dtype == torch.float32
    np.testing.assert_allclose(center[:, 0].numpy(), imgs[:, 2:26, 2:26] / 255.0, rtol=1e-6)
    g = torch.Generator().manual_seed(0)
    crops = cj.random_crops(imgs, g)
    assert crops.shape == (400, 1, 24, 24)
    assert 0.0 <= float(crops.min()) and float(crops.max()) <= 1.0
    seen = set()
    for i in range(len(imgs)):
        hits = [(dy, dx) for dy in range(5) for dx in range(5)
                if np.allclose(crops[i, 0].numpy(), imgs[i, dy:dy + 24, dx:dx + 24] / 255.0)]
        assert len(hits) == 1, (i, hits)
        seen.add(hits[0])
    # convnetjs.augment draws randi(0, 28 - 24) = floor(random * 4): offsets 0..3, never 4
    assert seen == {(dy, dx) for dy in range(4) for dx in range(4)}
    with pytest.raises(ValueError, match="offsets"):
        cj.crop_at(imgs[:2], 5, 0)
    with pytest.raises(ValueError, match="shape"):
        cj.center_crop(np.zeros((3, 20, 20), dtype=np.uint8))


def test_optimizer_is_convnetjs_adadelta():
    """One hand-written ConvNetJS trainer step (sum of per-example grads + l2*w on weights, / batch)."""
    torch.manual_seed(0)
    model = cj.build_network("conv", seed=1)
    x, y = torch.rand(20, 1, 24, 24), torch.randint(0, 10, (20,))
    ref = [p.detach().double().clone() for p in model.parameters()]
    gsum = [torch.zeros_like(p) for p in ref]
    xsum = [torch.zeros_like(p) for p in ref]
    opt = cj.make_optimizer(model)
    for _ in range(3):
        model.zero_grad()
        F.cross_entropy(model(x), y, reduction="sum").backward()
        grads = [p.grad.detach().double().clone() for p in model.parameters()]
        for i, (p, g) in enumerate(zip(ref, grads)):
            l2 = 0.001 if p.ndim > 1 else 0.0            # biases: l2_decay_mul 0
            gij = (l2 * p + g) / 20
            gsum[i] = 0.95 * gsum[i] + 0.05 * gij * gij
            dx = -torch.sqrt((xsum[i] + 1e-6) / (gsum[i] + 1e-6)) * gij
            xsum[i] = 0.95 * xsum[i] + 0.05 * dx * dx
            ref[i] = p + dx
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        for p, r in zip(model.parameters(), ref):
            np.testing.assert_allclose(p.detach().double().numpy(), r.numpy(), atol=1e-6)
    assert any(not torch.equal(p.detach().double(), q) for p, q in
               zip(cj.build_network("conv", seed=1).parameters(), ref))  # it did move


def test_bad_inputs_have_clear_errors(capsys):
    with pytest.raises(ValueError, match="unknown network"):
        cj.build_network("resnet")
    with pytest.raises(ValueError, match="crops"):
        cj.predict_proba(cj.build_network("fc32"), np.zeros((2, 28, 28), np.uint8), crops="five")
    with pytest.raises(ValueError, match="epochs"):
        cj.train(cj.build_network("fc32"), np.zeros((4, 28, 28), np.uint8), np.zeros(4, int), epochs=0)
    with pytest.raises(ValueError, match="labels"):
        cj.train(cj.build_network("fc32"), np.zeros((4, 28, 28), np.uint8), np.zeros(3, int))
    for argv, msg in [(["--epochs", "0"], "--epochs"), (["--networks", "conv,vgg"], "--networks"),
                      (["--train-n", "3"], "--train-n"), (["--eps", "0"], "--eps")]:
        with pytest.raises(SystemExit):
            cj.main(argv)
        assert msg in capsys.readouterr().err


def test_smoke_run_writes_table(tmp_path):
    out = tmp_path / "convnetjs.md"
    assert cj.main(["--smoke", "--out", str(out)]) == 0
    text = out.read_text()
    assert "1,000 train / 500 test" in text
    rows = [ln for ln in text.splitlines() if ln.startswith("| ") and ("conv net" in ln or "fc 32" in ln)]
    assert len(rows) == 2
    for row, params in zip(rows, ("5,994", "18,794")):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[1] == params and cells[2] == "1"
        train, test, test4 = (float(c) for c in cells[3:6])
        # one epoch on 1,000 images already beats chance (10%) by far
        assert 30 < train <= 100 and 30 < test <= 100 and 30 < test4 <= 100, row
        assert float(cells[6]) >= 0  # seconds / epoch (0.0x for fc32 on 1,000 images)


def test_committed_results_have_both_rows():
    text = RESULTS.read_text()
    assert "60,000 train / 10,000 test" in text and "smoke" not in text
    rows = {}
    for ln in text.splitlines():
        m = re.match(r"\| (demo conv net \(slide's layer_defs\)|slide's change: fc 32 relu) \| ([\d,]+) \| (\d+) \|"
                     r" ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|", ln)
        if m:
            rows[m.group(1)] = m.groups()[1:]
    assert set(rows) == {"demo conv net (slide's layer_defs)", "slide's change: fc 32 relu"}
    conv, fc = rows["demo conv net (slide's layer_defs)"], rows["slide's change: fc 32 relu"]
    assert conv[0] == "5,994" and fc[0] == "18,794"
    assert int(conv[1]) >= 5 and int(fc[1]) >= 5
    for r in (conv, fc):
        assert all(70 < float(v) <= 100 for v in r[2:5]), r  # Fashion-MNIST: well above chance
