"""One entry for every tools/export command: `/usr/bin/python3 -m tools.export COMMAND [--help]`."""

import importlib
import sys

# command → module, in the order a model goes through them; studies after the pipeline
COMMANDS = {
    "data": ("core.data", "inspect a data set, or fetch a named one (emoji)"),
    "train": ("pipeline.train", "train a U-ViT with AdaDiff exits"),
    "classifier": ("pipeline.classifier", "train the judge that evaluate scores samples with"),
    "evaluate": ("pipeline.evaluate", "sample at full depth and at several θ; report quality and blocks saved"),
    "choose-default": ("pipeline.choose_default", "pick the default θ from evaluate reports of several draws"),
    "export": ("pipeline.export", "write the per-block ONNX segments and manifest.json the runtime loads"),
    "import-official": ("pipeline.import_official", "an official AdaDiff checkpoint (nnet_ema.pth) as a model folder"),
    "checkpoint": ("core.checkpoint", "checkpoint maintenance (compact a resume point)"),
    "diagnose": ("studies.diagnose", "study: exit policies against the true ε gap"),
    "frontier": ("studies.frontier", "study: adaptive exits against static switch schedules at equal blocks"),
    "token-exit": ("studies.token_exit", "study: per-token exits simulated from the UEM map"),
    "compare-storage": ("studies.compare_storage", "study: int8 against fp32 weights"),
    "matmul-probe": ("studies.matmul_probe", "one MatMul of a block's shape as ONNX, the GFLOP/s yardstick"),
}


def usage():
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    return "usage: python3 -m tools.export COMMAND [--help]\n\ncommands:\n" + "\n".join(lines)


def main(argv):
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"error: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"{__package__}.{COMMANDS[name][0]}")
    from .core.errors import run_cli

    return run_cli(lambda: module.main(rest))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]) or 0)
