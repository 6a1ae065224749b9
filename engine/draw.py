"""`engine.draw`: the backward graph of a result as a Graphviz picture.

Each box is an op with the shape and dtype of what it made; ovals are the leaves (parameters,
inputs), blue where they require a gradient. Ops recorded inside an ``nn.Module`` call carry the
module's path (``h.0.attn``), so the picture groups them by layer; ``depth`` folds every layer below
that many levels into one box, and ``collapse`` folds runs of identical numbered blocks (the 12
``h.N`` blocks of gpt2) into one box after the first.

>>> import engine
>>> x = engine.Tensor([1.0, 2.0], requires_grad=True)
>>> dot = engine.draw((x * x).sum(), names={"x": x})
>>> sum(line.count("->") for line in dot.source.splitlines())  # x -> Mul -> Sum
2
"""

from __future__ import annotations

import re
import shutil
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from engine.backend import to_numpy
from engine.tensor import Tensor

INSTALL_HELP = ('engine.draw needs the graphviz Python package (pip install -e ".[examples]") to write DOT, and '
                "Graphviz's `dot` program (apt-get install graphviz, brew install graphviz) to render it")


def _graphviz():
    try:
        import graphviz
    except ImportError:
        raise ImportError(INSTALL_HELP) from None
    return graphviz


def _tensor_of(p: Tensor) -> Tensor:
    """A parent as the user sees it: the tensor itself while it lives (ctx.parents holds graph
    references for non-leaf inputs, engine.tensor._GraphRef)."""
    real = getattr(p, "_real", None)
    t = None if real is None else real()
    return p if t is None else t


def _collect(root: Tensor) -> list[Tensor]:
    """Every tensor of root's graph, root first, each once (iterative)."""
    seen, order, stack = set(), [], [root]
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        order.append(t)
        ctx = t._ctx
        if ctx is None:
            continue
        if ctx.freed:
            raise RuntimeError("engine.draw: the graph was freed by backward(); draw before backward(), "
                               "or call backward(retain_graph=True)")
        stack.extend(_tensor_of(p) for p in ctx.parents if p is not None)
    return order


def _grad_norms(root: Tensor, tensors: list[Tensor]) -> dict[int, float]:
    """‖d root / d t‖ for every tensor t of the graph, from one extra backward that leaves the
    leaves' ``.grad`` as it found them."""
    saved = {id(t): (t._grad, t._retains_grad) for t in tensors}  # no non-leaf warning
    try:
        for t in tensors:
            t.grad = None
            if t._ctx is not None:
                t._retains_grad = True
        root.backward(retain_graph=True)
        return {id(t): float(np.linalg.norm(to_numpy(t._grad._data).astype(np.float64)))
                for t in tensors if t._grad is not None}
    finally:
        for t in tensors:
            t._grad, t._retains_grad = saved[id(t)]


def _scope_of(t: Tensor, names: dict[int, str]) -> tuple[str, ...]:
    if t._ctx is not None:
        return tuple(getattr(t._ctx, "scope", ()))
    name = names.get(id(t))
    return tuple(name.split(".")[:-1]) if name else ()


def _block_key(scope: tuple[str, ...]) -> tuple[tuple[str, ...], str] | None:
    """(parent scope, "") for a numbered block scope like ("h", "3"), else None."""
    return (scope[:-1], "") if scope and scope[-1].isdigit() else None


def draw(root: Tensor, filename: str | Path | None = None, format: str = "svg",  # noqa: A002
         names: Mapping[str, Tensor] | Iterable[tuple[str, Tensor]] | None = None, depth: int | None = None,
         collapse: bool = True, grad_norms: bool = False) -> Any:
    """The backward graph of ``root`` as a ``graphviz.Digraph`` (its DOT text is ``.source``).

    - ``names``: name → tensor for the leaves, e.g. ``model.named_parameters()``.
    - ``depth``: show module scopes down to this many levels; deeper ones become one box each.
    - ``collapse``: fold numbered sibling blocks with the same ops (``h.1`` … ``h.11``) into one box.
    - ``grad_norms``: run one extra backward to label every tensor with its gradient's norm (leaves'
      ``.grad`` are left as they were). Without it, tensors that have a ``.grad`` show its norm.
    - ``filename``: also write ``<filename>.dot`` and, when Graphviz's ``dot`` is installed,
      ``<filename>.<format>`` (svg, png, pdf); without ``dot`` a warning says how to get it.
    """
    graphviz = _graphviz()
    tensors = _collect(root)
    name_of = {id(t): n for n, t in (names.items() if isinstance(names, Mapping) else (names or ()))}
    norms = _grad_norms(root, tensors) if grad_norms else {
        id(t): float(np.linalg.norm(to_numpy(t._grad._data).astype(np.float64)))
        for t in tensors if t._grad is not None}
    scope = {id(t): _scope_of(t, name_of) for t in tensors}

    # Which box each tensor is drawn in: itself, a folded layer (depth) or a folded run of blocks.
    box: dict[int, str] = {}
    box_label: dict[str, str] = {}
    box_scope: dict[str, tuple[str, ...]] = {}
    box_count: dict[str, int] = {}
    if depth is not None:
        for t in tensors:
            s = scope[id(t)]
            if len(s) > depth:
                key = "layer_" + re.sub(r"\W", "_", ".".join(s[:depth + 1]))
                box[id(t)] = key
                box_scope[key] = s[:depth]
                box_count[key] = box_count.get(key, 0) + 1
                box_label[key] = ".".join(s[:depth + 1])
    if collapse:
        _fold_repeated_blocks(tensors, scope, box, box_label, box_scope, box_count)
    for key, label in box_label.items():
        if key.startswith("layer_"):
            box_label[key] = f"{label}\n({box_count[key]} tensors)"

    dot = graphviz.Digraph("graph", graph_attr={"rankdir": "BT", "fontsize": "10"},
                           node_attr={"fontsize": "10", "fontname": "Helvetica"})
    clusters: dict[tuple[str, ...], list[tuple[str, str, dict]]] = {}

    index = {id(t): i for i, t in enumerate(tensors)}  # stable node names: n0 is the root

    def node_id(t: Tensor) -> str:
        return box.get(id(t), f"n{index[id(t)]}")

    for t in tensors:
        if id(t) in box:
            continue
        clusters.setdefault(scope[id(t)], []).append((node_id(t), _label(t, name_of, norms), _style(t, root)))
    for key, label in box_label.items():
        clusters.setdefault(box_scope[key], []).append(
            (key, label, {"shape": "box3d", "style": "filled", "fillcolor": "#eeeeee"}))
    _emit_clusters(dot, clusters)

    edges = set()
    for t in tensors:
        if t._ctx is None:
            continue
        for p in t._ctx.parents:
            p = None if p is None else _tensor_of(p)
            if p is not None and node_id(p) != node_id(t):
                edges.add((node_id(p), node_id(t)))
    for a, b in sorted(edges):
        dot.edge(a, b)
    if filename is not None:
        _write(dot, Path(filename), format, graphviz)
    return dot


def _fold_repeated_blocks(tensors, scope, box, box_label, box_scope, box_count) -> None:
    """Numbered sibling scopes (h.0, h.1, …) whose op lists match the first: all but the first
    become one box "h.1 … h.11: 11 blocks like h.0"."""
    ops_of: dict[tuple[str, ...], list[str]] = {}
    for t in tensors:
        s = scope[id(t)]
        for i in range(1, len(s) + 1):
            if s[i - 1].isdigit() and t._ctx is not None:
                ops_of.setdefault(s[:i], []).append(type(t._ctx).__name__ + "/" + ".".join(s[i:]))
    by_parent: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for s in ops_of:
        by_parent.setdefault(s[:-1], []).append(s)
    for parent, blocks in by_parent.items():
        blocks.sort(key=lambda s: int(s[-1]))
        first = sorted(ops_of[blocks[0]])
        same = [s for s in blocks[1:] if sorted(ops_of[s]) == first]
        if len(same) < 2:
            continue
        key = "blocks_" + re.sub(r"\W", "_", ".".join(parent))
        folded = set(same)
        for t in tensors:
            s = scope[id(t)]
            if any(s[:len(b)] == b for b in folded):
                box[id(t)] = key
        lo, hi = ".".join(same[0]), ".".join(same[-1])
        box_label[key] = f"{lo} … {hi}\n{len(same)} blocks like {'.'.join(blocks[0])}"
        box_scope[key] = parent


def _label(t: Tensor, names: dict[int, str], norms: dict[int, float]) -> str:
    head = type(t._ctx).__name__ if t._ctx is not None else names.get(id(t), "tensor")
    lines = [head, f"{tuple(t.shape)} {t.dtype}"]
    if id(t) in norms:
        lines.append(f"|grad| = {norms[id(t)]:.3g}")
    return "\n".join(lines)


def _style(t: Tensor, root: Tensor) -> dict:
    if t is root:
        return {"shape": "box", "style": "filled,bold", "fillcolor": "#ffd27f"}
    if t._ctx is not None:
        return {"shape": "box", "style": "rounded"}
    if t.requires_grad:
        return {"shape": "ellipse", "style": "filled", "fillcolor": "#cfe2ff"}
    return {"shape": "ellipse", "style": "filled", "fillcolor": "#eeeeee"}


def _emit_clusters(dot, clusters: dict[tuple[str, ...], list[tuple[str, str, dict]]]) -> None:
    """Nested ``cluster_`` subgraphs, one per scope, holding their nodes."""
    scopes = set(clusters)
    for s in list(scopes):
        scopes.update(s[:i] for i in range(len(s)))

    def emit(graph, s: tuple[str, ...]) -> None:
        for nid, label, style in clusters.get(s, ()):
            graph.node(nid, label, **style)
        for child in sorted(c for c in scopes if len(c) == len(s) + 1 and c[:len(s)] == s):
            with graph.subgraph(name="cluster_" + re.sub(r"\W", "_", ".".join(child))) as sub:
                sub.attr(label=".".join(child), style="rounded", color="#999999", fontsize="10")
                emit(sub, child)

    emit(dot, ())


def _write(dot, path: Path, format: str, graphviz) -> None:  # noqa: A002
    path.parent.mkdir(parents=True, exist_ok=True)
    dot_path = path.with_suffix(".dot")
    dot_path.write_text(dot.source)
    if shutil.which("dot") is None:
        warnings.warn(f"engine.draw: Graphviz's `dot` program is not installed, so only the DOT file was written: "
                      f"{dot_path}. Install it (apt-get install graphviz, or brew install graphviz) to get "
                      f"{path.with_suffix('.' + format).name}, or render it yourself: dot -T{format} {dot_path}",
                      RuntimeWarning, stacklevel=3)
        return
    dot.render(outfile=str(path.with_suffix("." + format)), format=format, cleanup=True)


def graph_size(root: Tensor) -> int:
    """How many tensors root's graph holds (what ``draw`` would show unfolded).

    >>> from engine import Tensor
    >>> x = Tensor([1.0], requires_grad=True)
    >>> graph_size(x.exp().sum())  # Sum, Exp and x
    3
    """
    return len(_collect(root))

