"""The primitive ops, grouped by family. Importing this package registers them all."""

from engine.ops import activations, elementwise, fused, hooks, matmul, movement, reduce, scan, spatial  # noqa: F401
