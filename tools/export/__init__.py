"""AdaDiff Web model tools: data, U-ViT + UEM model, training, ONNX export, evaluation.

This package is the only place in the repository that knows PyTorch. Run its commands with
`/usr/bin/python3 -m tools.export.<command>` from the repository root.
"""
