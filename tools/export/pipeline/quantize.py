"""Weight storage for the download: int8 with one scale per output channel, computed in fp32.

Two halves that must agree exactly, so that PyTorch (fixtures, calibration, evaluation) and the
ONNX files (the runtime) run the same weights:

- `quantize_weights_(model)` rounds every Linear and Conv weight but those in KEEP_FP32, in place,
  to q·s with q an int8 in [-127, 127] and s = max|w| / 127 per output channel (symmetric, no
  zero point). The model then computes with those values in fp32.
- `store_int8(path)` rewrites an exported graph: each initializer that holds such values becomes
  an int8 tensor, its fp32 scales and a DequantizeLinear node that gives back the same fp32
  tensor, so every backend computes in fp32 as before. ONNX export may transpose a Linear weight
  (MatMul wants [in, out]), so the channel axis is found, not assumed; an initializer that is not
  on such a grid (biases, norms, the position embedding) stays fp32.
"""

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper

STORAGE_TYPES = ("fp32", "int8")
# smaller weights are a rounding error of the download and not worth a node each
MIN_ELEMENTS = 1024
QMAX = 127
# Weights whose rounding moved the samples most, kept fp32 (module names ending so). Measured on the
# step-15,018 model, 100 full-depth samples against fp32 (median / 5th-percentile PSNR): everything
# rounded 33.9 / 24.6 dB; the output projection alone (it writes ε, 2k weights) 41.0 / 29.4 and the six
# long-skip projections alone 40.4 / 30.9; all but these seven 47.9 / 36.1 dB, for 0.6 MB more download.
KEEP_FP32 = ("decoder_pred", "skip_linear")


def _channel_scales(w, axis):
    reduce = tuple(d for d in range(w.ndim) if d != axis)
    peak = np.abs(w).max(axis=reduce)
    return np.where(peak > 0, peak / QMAX, 1.0).astype(np.float32)


def quantize_weights_(model):
    """Round the model's Linear and Conv weights to int8 · per-output-channel scale, in place.
    Returns the number of tensors rounded."""
    count = 0
    with torch.no_grad():
        for name, module in model.named_modules():
            if not isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)) or name.endswith(KEEP_FP32):
                continue
            w = module.weight
            if w.numel() < MIN_ELEMENTS:
                continue
            scales = torch.from_numpy(_channel_scales(w.detach().cpu().numpy(), 0)).to(w.device)
            shape = (-1,) + (1,) * (w.ndim - 1)
            q = torch.clamp(torch.round(w / scales.view(shape)), -QMAX, QMAX)
            w.copy_(q * scales.view(shape))
            count += 1
    return count


def _as_int8(w):
    """(q, scales, axis) when w lies on a per-channel int8 grid along some axis, else None."""
    if w.dtype != np.float32 or w.ndim < 2 or w.size < MIN_ELEMENTS:
        return None
    for axis in range(w.ndim):
        scales = _channel_scales(w, axis)
        shape = [1] * w.ndim
        shape[axis] = -1
        ratio = w / scales.reshape(shape)
        q = np.round(ratio)
        # a rounded weight divides back to integers within float error; any other tensor does not
        if np.abs(ratio - q).max() < 1e-3 and np.abs(q).max() <= QMAX:
            back = (q * scales.reshape(shape)).astype(np.float32)
            if np.abs(back - w).max() <= 1e-6 * max(1.0, float(np.abs(w).max())):
                return q.astype(np.int8), scales, axis
    return None


def store_int8(path):
    """Rewrite the ONNX file at `path` with its rounded weights stored as int8. Returns
    (tensors stored as int8, bytes before, bytes after)."""
    model = onnx.load(path)
    before = model.ByteSize()
    graph = model.graph
    kept, nodes, stored = [], [], 0
    for init in graph.initializer:
        w = numpy_helper.to_array(init)
        found = _as_int8(w)
        if found is None:
            kept.append(init)
            continue
        q, scales, axis = found
        name = init.name
        kept.append(numpy_helper.from_array(q, f"{name}.int8"))
        kept.append(numpy_helper.from_array(scales, f"{name}.scale"))
        kept.append(numpy_helper.from_array(np.zeros_like(scales, dtype=np.int8), f"{name}.zero"))
        nodes.append(helper.make_node("DequantizeLinear", [f"{name}.int8", f"{name}.scale", f"{name}.zero"], [name],
                                      name=f"{name}.dequantize", axis=axis))
        stored += 1
    del graph.initializer[:]
    graph.initializer.extend(kept)
    rest = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + rest)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return stored, before, model.ByteSize()
