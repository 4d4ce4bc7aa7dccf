"""int8 storage: the rounding in PyTorch and the rewrite of the ONNX files agree exactly."""

import numpy as np
import torch

from tools.export.pipeline.quantize import KEEP_FP32, QMAX, _as_int8, quantize_weights_


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


def test_the_weights_kept_fp32_are_left_as_trained():
    torch.manual_seed(2)

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = torch.nn.Linear(64, 64)
            self.skip_linear = torch.nn.Linear(128, 64)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.block = Block()
            self.decoder_pred = torch.nn.Linear(64, 32)

    net = Net()
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    assert quantize_weights_(net) == 1  # fc1 only
    assert not torch.equal(net.block.fc1.weight, before["block.fc1.weight"])
    assert torch.equal(net.block.skip_linear.weight, before["block.skip_linear.weight"])
    assert torch.equal(net.decoder_pred.weight, before["decoder_pred.weight"])
    # and the rewrite leaves them fp32, as they are off the int8 grid
    assert _as_int8(net.block.skip_linear.weight.detach().numpy()) is None


def test_every_name_kept_fp32_is_a_module_of_the_u_vit():
    """A renamed module would silently be rounded again."""
    from tools.export.core.config import from_dict
    from tools.export.core.uvit import build

    names = [n for n, _ in build(from_dict({"model": {"img_size": 28, "in_chans": 1, "num_classes": 10}})["model"]).named_modules()]
    for suffix in KEEP_FP32:
        assert any(n.endswith(suffix) for n in names), suffix


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
