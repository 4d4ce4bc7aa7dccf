"""int8 storage: the rounding in PyTorch and the rewrite of the ONNX files agree exactly."""

import numpy as np
import torch

from tools.export.quantize import QMAX, _as_int8, quantize_weights_


def test_rounded_weights_sit_on_a_per_output_channel_grid():
    torch.manual_seed(0)
    layer = torch.nn.Linear(64, 32)
    original = layer.weight.detach().clone()
    assert quantize_weights_(torch.nn.Sequential(layer)) == 1
    w = layer.weight.detach()
    scales = original.abs().amax(dim=1, keepdim=True) / QMAX
    q = w / scales
    assert torch.allclose(q, q.round(), atol=1e-4)
    # the error of rounding to nearest: at most half a step of each row's scale
    assert ((w - original).abs() <= scales / 2 + 1e-7).all()
    assert (q.abs().round() == QMAX).any(dim=1).all()  # each row's peak keeps its value


def test_the_rewrite_finds_the_channel_axis_and_gives_back_the_same_tensor():
    torch.manual_seed(1)
    layer = torch.nn.Linear(48, 40)
    quantize_weights_(torch.nn.Sequential(layer))
    exported = layer.weight.detach().numpy().T.copy()  # ONNX's MatMul holds it as [in, out]
    q, scales, axis = _as_int8(exported)
    assert axis == 1 and q.dtype == np.int8 and scales.shape == (40,)
    back = q.astype(np.float32) * scales[None, :]
    assert np.abs(back - exported).max() <= 1e-7


def test_tensors_off_the_grid_stay_fp32():
    rng = np.random.default_rng(0)
    assert _as_int8(rng.standard_normal((64, 64)).astype(np.float32)) is None
    assert _as_int8(rng.standard_normal(4096).astype(np.float32)) is None  # 1-D: biases, norms
    assert _as_int8(np.zeros((8, 8), np.float32)) is None  # below the size worth a node
