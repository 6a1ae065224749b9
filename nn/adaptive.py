"""torch.nn.AdaptiveLogSoftmaxWithLoss (Grave et al., "Efficient softmax approximation for GPUs"),
composed from Linear, log_softmax, gather, index_select and index_copy: no backward of its own.

>>> import numpy as np
>>> from engine import Tensor
>>> asm = AdaptiveLogSoftmaxWithLoss(8, 10, [4, 7])
>>> out = asm(Tensor.randn(5, 8), Tensor(np.array([0, 3, 4, 8, 9])))
>>> out.output.shape, out.loss.shape
((5,), ())
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence

import engine.functional as F
from engine import Tensor
from engine.backend import array_module
from nn.layers import Linear
from nn.module import Module, ModuleList, Sequential

_ASMoutput = namedtuple("_ASMoutput", ["output", "loss"])


class AdaptiveLogSoftmaxWithLoss(Module):
    """Adaptive softmax: classes below ``cutoffs[0]`` in the head, the rest in clusters whose
    projections shrink by ``div_value`` per cluster. Parameters ``head.weight`` (and
    ``head.bias`` with ``head_bias``), ``tail.i.0.weight`` and ``tail.i.1.weight``, as torch's.
    ``forward(input, target)`` returns ``(output, loss)``: each target's log-probability and
    their negated mean.

    >>> asm = AdaptiveLogSoftmaxWithLoss(8, 10, [4])
    >>> asm.log_prob(Tensor.randn(3, 8)).exp().sum(1).shape
    (3,)
    """

    def __init__(self, in_features: int, n_classes: int, cutoffs: Sequence[int], div_value: float = 4.0,
                 head_bias: bool = False, device=None, dtype=None) -> None:
        super().__init__()
        cutoffs = list(cutoffs)
        if len(cutoffs) == 0:
            raise ValueError("cutoffs should be a sequence of length larger than 0")
        if (cutoffs != sorted(cutoffs) or min(cutoffs) <= 0 or max(cutoffs) > n_classes - 1
                or len(set(cutoffs)) != len(cutoffs) or any(int(c) != c for c in cutoffs)):
            raise ValueError("cutoffs should be a sequence of unique, positive integers sorted in an increasing "
                             "order, where each value is between 1 and n_classes-1")
        self.in_features, self.n_classes = in_features, n_classes
        self.cutoffs = cutoffs + [n_classes]
        self.div_value, self.head_bias = div_value, head_bias
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        self.head = Linear(in_features, self.head_size, bias=head_bias, device=device, dtype=dtype)
        self.tail = ModuleList()
        for i in range(self.n_clusters):
            hsz = int(in_features // (div_value ** (i + 1)))
            osz = self.cutoffs[i + 1] - self.cutoffs[i]
            self.tail.append(Sequential(Linear(in_features, hsz, bias=False, device=device, dtype=dtype),
                                        Linear(hsz, osz, bias=False, device=device, dtype=dtype)))

    def reset_parameters(self) -> None:
        self.head.reset_parameters()
        for i2h, h2o in self.tail:
            i2h.reset_parameters()
            h2o.reset_parameters()

    def forward(self, input_: Tensor, target_) -> _ASMoutput:
        t = target_._data if isinstance(target_, Tensor) else array_module(input_._data).asarray(target_)
        if t.ndim == 1:
            if input_.shape[0] != t.shape[0]:
                raise RuntimeError("Input and target should have the same size in the batch dimension.")
            if input_.ndim != 2:
                raise RuntimeError(f"1D target tensor expects 2D input tensors, but found inputs with size "
                                   f"{input_.shape}")
        elif t.ndim == 0:
            if input_.ndim != 1:
                raise RuntimeError(f"0D target tensor expects 1D input tensors, but found inputs with size "
                                   f"{input_.shape}")
        else:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
        is_batched = t.ndim > 0
        input = input_ if is_batched else input_.unsqueeze(0)
        t = t.reshape(-1)
        xp = array_module(t)
        used_rows, batch_size = 0, t.shape[0]
        output = input.new_zeros(batch_size)  # (N,): each target's log-probability within its cluster
        gather_inds = t.copy()  # (N,): each target's column in the head
        cutoff_values = [0] + self.cutoffs
        for i in range(len(cutoff_values) - 1):
            low, high = cutoff_values[i], cutoff_values[i + 1]
            rows = xp.nonzero((t >= low) & (t < high))[0]
            if rows.size == 0:
                continue
            if i > 0:
                cluster_logprob = self.tail[i - 1](input.index_select(0, rows)).log_softmax(1)
                gather_inds[rows] = self.shortlist_size + i - 1
                local = cluster_logprob.gather(1, (t[rows] - low)[:, None]).squeeze(1)
                output = output.index_copy(0, rows, local)
            used_rows += rows.size
        if used_rows != batch_size:
            raise RuntimeError(f"Target values should be in [0, {self.n_classes - 1}], but values in range "
                               f"[{int(t.min())}, {int(t.max())}] were found. ")
        head_logprob = self.head(input).log_softmax(1)
        output = output + head_logprob.gather(1, gather_inds[:, None]).squeeze(1)
        loss = (-output).mean()
        if not is_batched:
            output = output.squeeze(0)
        return _ASMoutput(output, loss)

    def _get_full_log_prob(self, input: Tensor, head_output: Tensor) -> Tensor:
        """Log-probabilities of all ``n_classes`` from ``input`` and the head's output."""
        head_logprob = head_output.log_softmax(1)
        parts = [head_logprob[:, : self.shortlist_size]]
        for i in range(self.n_clusters):
            cluster_logprob = self.tail[i](input).log_softmax(1)
            parts.append(cluster_logprob + head_logprob[:, self.shortlist_size + i].unsqueeze(1))
        return F.cat(parts, dim=1)

    def log_prob(self, input: Tensor) -> Tensor:
        """(N, n_classes) log-probabilities of every class for (N, in_features) ``input``."""
        return self._get_full_log_prob(input, self.head(input))

    def predict(self, input: Tensor) -> Tensor:
        """The most probable class of each row: ``log_prob(input).argmax(1)``, computing the
        clusters only for rows whose head argmax is a cluster."""
        head_output = self.head(input)
        output = head_output.argmax(1)
        not_in_shortlist = output >= self.shortlist_size
        if not bool(not_in_shortlist.any()):
            return output
        if bool(not_in_shortlist.all()):
            return self._get_full_log_prob(input, head_output).argmax(1)
        log_prob = self._get_full_log_prob(input[not_in_shortlist], head_output[not_in_shortlist])
        output[not_in_shortlist] = log_prob.argmax(1)
        return output
