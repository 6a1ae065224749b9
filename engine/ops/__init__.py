"""The primitive ops, grouped by family. Importing this package registers them all."""

from engine.ops import elementwise, fused, matmul, movement, reduce, spatial  # noqa: F401
