"""One MatMul of a block's shape as an ONNX graph: what onnxruntime-web reaches on it alone is the
practical limit a model's GFLOP/s is read against (`adadiff bench --scale --matmul probe.onnx`).

    /usr/bin/python3 -m tools.export matmul-probe --tokens 257 --dim 512 --hidden 2048 --out probe.onnx

Input "a" [tokens, dim] times a weight [dim, hidden] held in the graph (the MLP's first layer);
probe.json beside it says the shape.
"""

import argparse
import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main(argv=None):
    p = argparse.ArgumentParser(prog="tools.export matmul-probe", description=__doc__.split("\n\n")[0])
    p.add_argument("--tokens", type=int, required=True)
    p.add_argument("--dim", type=int, required=True)
    p.add_argument("--hidden", type=int, required=True)
    p.add_argument("--out", required=True, help="the .onnx file to write (the .json beside it)")
    args = p.parse_args(argv)
    m, k, n = args.tokens, args.dim, args.hidden
    weight = numpy_helper.from_array(np.random.default_rng(0).standard_normal((k, n)).astype(np.float32) * 0.02, "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "w"], ["out"])], "matmul_probe",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [m, k])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [m, n])], [weight])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), args.out)
    with open(args.out.removesuffix(".onnx") + ".json", "w") as f:
        json.dump({"shape": [m, k, n]}, f)
    print(f"wrote {args.out}: [{m}, {k}] × [{k}, {n}], {2 * m * k * n / 1e9:.3f} GFLOP")


if __name__ == "__main__":
    from ..core.errors import run_cli

    run_cli(main)
