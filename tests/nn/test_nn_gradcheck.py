"""Every layer class exported from nn, gradient-checked in float64 through the engine: the
gradients of its float inputs and of every parameter against central differences
(engine.gradcheck). test_every_layer_has_a_case enumerates nn's Module classes and fails when one
has neither a case here nor a stated reason to have none.

Inputs with kinks (relu, hardtanh, shrinks, max pooling) are pushed away from the kink rather
than tolerances loosened: a central difference across a kink is wrong by construction. Dropout
layers run in train mode with the engine's generator reseeded before every call, so each
evaluation draws the same mask."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine
import nn
from engine import Tensor, gradcheck

KINKS = (-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 6.0)


def _x(seed: int, *shape, scale: float = 1.0, kinks=()) -> np.ndarray:
    """Normal entries; those within 0.02 of a kink pushed to 0.05 from it."""
    x = np.random.default_rng(seed).standard_normal(shape) * scale
    for k in kinks:
        near = np.abs(x - k) < 0.02
        x[near] = k + np.where(x[near] >= k, 0.05, -0.05)
    return x


def _ids(seed: int, high: int, *shape) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, high, size=shape)


def _distinct(seed: int, *shape) -> np.ndarray:
    """Entries pairwise at least 0.05 apart (a shuffled grid plus a little noise): max pooling
    and adaptive max pooling have no ties within a window, so their argmax is stable under eps."""
    n = int(np.prod(shape))
    rng = np.random.default_rng(seed)
    return (rng.permutation(n) * 0.1 + rng.uniform(0, 0.04, n) - n * 0.05).reshape(shape)


# name -> (module factory, float inputs (tuple of arrays), extra non-float call args, call)
# call(module, *float_inputs, *extra) defaults to module(*float_inputs, *extra).
def _cases(seed: int) -> dict:
    draws = iter(range(10**6))  # each call draws new numbers: inputs of a loss must differ

    def x(*shape, **kw):
        return _x(seed * 1000 + next(draws), *shape, **kw)

    def act(*shape):
        return x(*shape, scale=2.0, kinks=KINKS)

    tgt = _ids(seed, 4, 3)
    enc = nn.TransformerEncoderLayer(8, 2, dim_feedforward=6, dropout=0.0)
    dec = nn.TransformerDecoderLayer(8, 2, dim_feedforward=6, dropout=0.0)
    ctc_tg = np.array([[1, 2], [3, 3]])
    return {
        # linear, embedding, shape
        "Linear": (lambda: nn.Linear(3, 2), (x(2, 3),), (), None),
        "LazyLinear": (lambda: _first_forward(nn.LazyLinear(2), (1, 3)), (x(2, 3),), (), None),  # a Linear by then
        "LazyConv1d": (lambda: _first_forward(nn.LazyConv1d(3, 2), (1, 2, 4)), (x(2, 2, 4),), (), None),
        "LazyConv2d": (lambda: _first_forward(nn.LazyConv2d(2, 2), (1, 2, 3, 3)), (x(1, 2, 3, 3),), (), None),
        "LazyConv3d": (lambda: _first_forward(nn.LazyConv3d(2, 2), (1, 2, 3, 3, 2)), (x(1, 2, 3, 3, 2),), (), None),
        "LazyConvTranspose1d": (lambda: _first_forward(nn.LazyConvTranspose1d(3, 2, stride=2), (1, 2, 3)),
                                (x(2, 2, 3),), (), None),
        "LazyConvTranspose2d": (lambda: _first_forward(nn.LazyConvTranspose2d(2, 2), (1, 2, 2, 3)),
                                (x(1, 2, 2, 3),), (), None),
        "LazyConvTranspose3d": (lambda: _first_forward(nn.LazyConvTranspose3d(2, 2), (1, 2, 2, 2, 2)),
                                (x(1, 2, 2, 2, 2),), (), None),
        "LazyBatchNorm1d": (lambda: _first_forward(nn.LazyBatchNorm1d(), (2, 2)), (x(3, 2),), (), None),
        "LazyBatchNorm2d": (lambda: _first_forward(nn.LazyBatchNorm2d(), (2, 2, 2, 2)), (x(2, 2, 2, 3),), (), None),
        "LazyBatchNorm3d": (lambda: _first_forward(nn.LazyBatchNorm3d(), (2, 2, 2, 2, 2)), (x(2, 2, 2, 2, 2),), (),
                            None),
        "LazyInstanceNorm1d": (lambda: _first_forward(nn.LazyInstanceNorm1d(), (2, 2, 4)), (x(2, 2, 4),), (), None),
        "LazyInstanceNorm2d": (lambda: _first_forward(nn.LazyInstanceNorm2d(), (2, 2, 2, 2)), (x(2, 2, 2, 3),), (),
                               None),
        "LazyInstanceNorm3d": (lambda: _first_forward(nn.LazyInstanceNorm3d(), (2, 2, 2, 2, 2)), (x(2, 2, 2, 2, 2),),
                               (), None),
        "Bilinear": (lambda: nn.Bilinear(3, 2, 4), (x(2, 3), x(2, 2)), (), None),
        "Embedding": (lambda: nn.Embedding(5, 3), (), (_ids(seed, 5, 2, 3),), None),  # no padding_idx: 0 by design
        "EmbeddingBag": (lambda: nn.EmbeddingBag(5, 3, mode="sum"), (x(6),), (_ids(seed, 5, 6), np.array([0, 2])),
                         lambda m, w, i, o: m(i, o, per_sample_weights=w)),
        "Flatten": (lambda: nn.Flatten(), (x(2, 3, 2),), (), None),
        "Unflatten": (lambda: nn.Unflatten(1, (2, 3)), (x(2, 6),), (), None),
        "Identity": (lambda: nn.Identity(), (x(2, 3),), (), None),
        "MLP": (lambda: nn.MLP(4, 6), (x(2, 4),), (), None),
        "LearnedPositionalEmbedding": (lambda: nn.LearnedPositionalEmbedding(6, 3), (), (np.arange(4),), None),
        "Sequential": (lambda: nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)), (x(2, 3),), (), None),
        "DataParallel": (lambda: nn.DataParallel(nn.Linear(3, 2)), (x(2, 3),), (), None),
        # dropout (train mode, reseeded: the same mask on every evaluation)
        "Dropout": (lambda: nn.Dropout(0.3), (x(3, 4),), (), None),
        "Dropout1d": (lambda: nn.Dropout1d(0.3), (x(2, 3, 4),), (), None),
        "Dropout2d": (lambda: nn.Dropout2d(0.3), (x(2, 3, 2, 2),), (), None),
        "Dropout3d": (lambda: nn.Dropout3d(0.3), (x(2, 3, 2, 2, 1),), (), None),
        "AlphaDropout": (lambda: nn.AlphaDropout(0.3), (x(3, 4),), (), None),
        "FeatureAlphaDropout": (lambda: nn.FeatureAlphaDropout(0.3), (x(2, 3, 4),), (), None),
        # normalization (train mode: batch statistics)
        "BatchNorm1d": (lambda: nn.BatchNorm1d(3), (x(4, 3),), (), None),
        "SyncBatchNorm": (lambda: nn.SyncBatchNorm(2), (x(2, 2, 3, 1),), (), None),
        "BatchNorm2d": (lambda: nn.BatchNorm2d(2), (x(2, 2, 2, 3),), (), None),
        "BatchNorm3d": (lambda: nn.BatchNorm3d(2), (x(2, 2, 2, 1, 2),), (), None),
        "GroupNorm": (lambda: nn.GroupNorm(2, 4), (x(2, 4, 3),), (), None),
        "InstanceNorm1d": (lambda: nn.InstanceNorm1d(2, affine=True), (x(2, 2, 4),), (), None),
        "InstanceNorm2d": (lambda: nn.InstanceNorm2d(2, affine=True), (x(1, 2, 2, 3),), (), None),
        "InstanceNorm3d": (lambda: nn.InstanceNorm3d(2, affine=True), (x(1, 2, 2, 2, 2),), (), None),
        "LayerNorm": (lambda: nn.LayerNorm(4), (x(2, 4),), (), None),
        "RMSNorm": (lambda: nn.RMSNorm(4), (x(2, 4),), (), None),
        "LocalResponseNorm": (lambda: nn.LocalResponseNorm(3, alpha=0.5, k=2.0), (x(2, 4, 3),), (), None),
        # recurrent
        "RNN": (lambda: nn.RNN(3, 4, num_layers=2, bidirectional=True), (x(3, 2, 3), x(4, 2, 4)), (), None),
        "GRU": (lambda: nn.GRU(3, 4, batch_first=True), (x(2, 3, 3), x(1, 2, 4)), (), None),
        "LSTM": (lambda: nn.LSTM(3, 4, proj_size=2), (x(3, 2, 3), x(1, 2, 2), x(1, 2, 4)), (),
                 lambda m, a, h, c: m(a, (h, c))),
        "RNNCell": (lambda: nn.RNNCell(3, 4, nonlinearity="relu"), (x(2, 3, kinks=KINKS), x(2, 4)), (), None),
        "GRUCell": (lambda: nn.GRUCell(3, 4), (x(2, 3), x(2, 4)), (), None),
        "LSTMCell": (lambda: nn.LSTMCell(3, 4), (x(2, 3), x(2, 4), x(2, 4)), (), lambda m, a, h, c: m(a, (h, c))),
        # attention and transformers
        "CausalSelfAttention": (lambda: nn.CausalSelfAttention(8, 2), (x(2, 3, 8),), (), None),
        "MultiheadAttention": (lambda: nn.MultiheadAttention(8, 2, kdim=3, vdim=5, batch_first=True),
                               (x(2, 3, 8), x(2, 4, 3), x(2, 4, 5)), (), None),
        "TransformerEncoderLayer": (lambda: nn.TransformerEncoderLayer(8, 2, dim_feedforward=6, dropout=0.0,
                                                                       activation="gelu"), (x(3, 2, 8),), (), None),
        "TransformerDecoderLayer": (lambda: nn.TransformerDecoderLayer(8, 2, dim_feedforward=6, dropout=0.0,
                                                                       norm_first=True), (x(3, 2, 8), x(4, 2, 8)),
                                    (), None),
        "TransformerEncoder": (lambda: nn.TransformerEncoder(enc, 2, norm=nn.LayerNorm(8)), (x(3, 2, 8),), (), None),
        "TransformerDecoder": (lambda: nn.TransformerDecoder(dec, 2), (x(3, 2, 8), x(4, 2, 8)), (), None),
        "Transformer": (lambda: nn.Transformer(8, 2, 1, 1, dim_feedforward=6, dropout=0.0),
                        (x(3, 2, 8), x(2, 2, 8)), (), None),
        # activations
        "CELU": (lambda: nn.CELU(0.7), (act(3, 4),), (), None),
        "ELU": (lambda: nn.ELU(), (act(3, 4),), (), None),
        "GELU": (lambda: nn.GELU(), (act(3, 4),), (), None),
        "GLU": (lambda: nn.GLU(), (act(3, 4),), (), None),
        "SELU": (lambda: nn.SELU(), (act(3, 4),), (), None),
        "Hardshrink": (lambda: nn.Hardshrink(), (act(3, 4),), (), None),
        "Hardsigmoid": (lambda: nn.Hardsigmoid(), (act(3, 4),), (), None),
        "Hardswish": (lambda: nn.Hardswish(), (act(3, 4),), (), None),
        "Hardtanh": (lambda: nn.Hardtanh(), (act(3, 4),), (), None),
        "LeakyReLU": (lambda: nn.LeakyReLU(0.1), (act(3, 4),), (), None),
        "LogSigmoid": (lambda: nn.LogSigmoid(), (act(3, 4),), (), None),
        "LogSoftmax": (lambda: nn.LogSoftmax(1), (act(3, 4),), (), None),
        "Mish": (lambda: nn.Mish(), (act(3, 4),), (), None),
        "PReLU": (lambda: nn.PReLU(3), (act(2, 3, 2),), (), None),
        "ReLU": (lambda: nn.ReLU(), (act(3, 4),), (), None),
        "ReLU6": (lambda: nn.ReLU6(), (act(3, 4) * 2,), (), None),
        "Sigmoid": (lambda: nn.Sigmoid(), (act(3, 4),), (), None),
        "SiLU": (lambda: nn.SiLU(), (act(3, 4),), (), None),
        "Softmax": (lambda: nn.Softmax(0), (act(3, 4),), (), None),
        "Softmax2d": (lambda: nn.Softmax2d(), (act(2, 3, 2, 2),), (), None),
        "Softmin": (lambda: nn.Softmin(1), (act(3, 4),), (), None),
        "Softplus": (lambda: nn.Softplus(beta=2.0, threshold=3.0), (act(3, 4),), (), None),
        "Softshrink": (lambda: nn.Softshrink(), (act(3, 4),), (), None),
        "Softsign": (lambda: nn.Softsign(), (act(3, 4),), (), None),
        "Tanh": (lambda: nn.Tanh(), (act(3, 4),), (), None),
        "Tanhshrink": (lambda: nn.Tanhshrink(), (act(3, 4),), (), None),
        "Threshold": (lambda: nn.Threshold(0.5, -2.0), (act(3, 4),), (), None),
        # convolution, pooling, resampling
        "Conv1d": (lambda: nn.Conv1d(4, 2, 3, stride=2, padding=1, groups=2), (x(2, 4, 5),), (), None),
        "Conv2d": (lambda: nn.Conv2d(2, 3, (2, 3), padding="same", padding_mode="reflect"), (x(1, 2, 4, 4),),
                   (), None),
        "Conv3d": (lambda: nn.Conv3d(2, 2, 2, dilation=1), (x(1, 2, 3, 3, 3),), (), None),
        "ConvTranspose1d": (lambda: nn.ConvTranspose1d(2, 3, 3, stride=2, output_padding=1), (x(2, 2, 3),), (), None),
        "ConvTranspose2d": (lambda: nn.ConvTranspose2d(2, 2, 2, stride=2, padding=1), (x(1, 2, 3, 3),), (), None),
        "MaxPool1d": (lambda: nn.MaxPool1d(2, ceil_mode=True), (_distinct(seed, 2, 2, 5),), (), None),
        "MaxPool2d": (lambda: nn.MaxPool2d(2, stride=1, padding=1), (_distinct(seed, 1, 2, 3, 3),), (), None),
        "AvgPool1d": (lambda: nn.AvgPool1d(3, stride=2, padding=1), (x(2, 2, 5),), (), None),
        "MaxUnpool1d": (lambda: nn.MaxUnpool1d(2), (x(1, 2, 2),), (np.array([[[1, 2], [0, 3]]]),),
                        lambda m, v, i: m(v, Tensor(i))),
        "MaxUnpool2d": (lambda: nn.MaxUnpool2d(2), (x(1, 2, 2, 2),), (np.array([[[[1, 7], [8, 14]]] * 2]),),
                        lambda m, v, i: m(v, Tensor(i))),
        "LPPool1d": (lambda: nn.LPPool1d(2, 2), (x(1, 2, 4),), (), None),
        "LPPool2d": (lambda: nn.LPPool2d(2, 2, stride=1), (x(1, 2, 3, 3),), (), None),
        "AvgPool2d": (lambda: nn.AvgPool2d(2, ceil_mode=True, count_include_pad=False), (x(1, 2, 3, 3),), (), None),
        "AdaptiveAvgPool1d": (lambda: nn.AdaptiveAvgPool1d(3), (x(2, 2, 5),), (), None),
        "AdaptiveAvgPool2d": (lambda: nn.AdaptiveAvgPool2d((2, 3)), (x(1, 2, 3, 4),), (), None),
        "AdaptiveMaxPool1d": (lambda: nn.AdaptiveMaxPool1d(3), (_distinct(seed, 2, 2, 5),), (), None),
        "AdaptiveMaxPool2d": (lambda: nn.AdaptiveMaxPool2d(2), (_distinct(seed, 1, 2, 3, 4),), (), None),
        "AdaptiveMaxPool3d": (lambda: nn.AdaptiveMaxPool3d(2), (_distinct(seed, 1, 2, 3, 3, 4),), (), None),
        "LPPool3d": (lambda: nn.LPPool3d(2, 2, stride=1), (x(1, 2, 3, 3, 3),), (), None),
        "FractionalMaxPool2d": (lambda: nn.FractionalMaxPool2d(2, output_size=(3, 2), _random_samples=Tensor(
            np.array([[[0.3, 0.7], [0.9, 0.1]]]))), (_distinct(seed, 1, 2, 5, 4),), (), None),
        "FractionalMaxPool3d": (lambda: nn.FractionalMaxPool3d((2, 1, 2), output_ratio=0.6, _random_samples=Tensor(
            np.array([[[0.2, 0.5, 0.8]]]))), (_distinct(seed, 1, 1, 4, 3, 5),), (), None),
        "MaxUnpool3d": (lambda: nn.MaxUnpool3d(2), (x(1, 1, 1, 2, 2),), (np.array([[[[[1, 6], [8, 31]]]]]),),
                        lambda m, v, i: m(v, Tensor(i))),
        "Upsample": (lambda: nn.Upsample(scale_factor=2, mode="bilinear"), (x(1, 2, 2, 3),), (), None),
        "UpsamplingBilinear2d": (lambda: nn.UpsamplingBilinear2d(size=(3, 4)), (x(1, 1, 2, 3),), (), None),
        "UpsamplingNearest2d": (lambda: nn.UpsamplingNearest2d(scale_factor=2), (x(1, 2, 2, 2),), (), None),
        "PixelShuffle": (lambda: nn.PixelShuffle(2), (x(1, 8, 2, 2),), (), None),
        "PixelUnshuffle": (lambda: nn.PixelUnshuffle(2), (x(1, 2, 4, 2),), (), None),
        "Unfold": (lambda: nn.Unfold(2, padding=1, stride=2), (x(1, 2, 3, 3),), (), None),
        "Fold": (lambda: nn.Fold((3, 3), 2), (x(1, 8, 4),), (), None),
        "ConvTranspose3d": (lambda: nn.ConvTranspose3d(2, 2, 2, stride=2, padding=1), (x(1, 2, 2, 2, 2),), (), None),
        "MaxPool3d": (lambda: nn.MaxPool3d(2, stride=1), (_distinct(seed, 1, 1, 3, 3, 3),), (), None),
        "AvgPool3d": (lambda: nn.AvgPool3d(2, stride=1, padding=1), (x(1, 1, 2, 3, 2),), (), None),
        "AdaptiveAvgPool3d": (lambda: nn.AdaptiveAvgPool3d((2, 1, 2)), (x(1, 1, 3, 2, 3),), (), None),
        "ChannelShuffle": (lambda: nn.ChannelShuffle(2), (x(1, 4, 2),), (), None),
        # padding
        "ConstantPad1d": (lambda: nn.ConstantPad1d((1, 2), 0.5), (x(2, 3),), (), None),
        "ConstantPad2d": (lambda: nn.ConstantPad2d(1, -1.0), (x(1, 2, 2),), (), None),
        "ConstantPad3d": (lambda: nn.ConstantPad3d((1, 0, 0, 1, 1, 0), 2.0), (x(1, 1, 2, 2, 2),), (), None),
        "ZeroPad1d": (lambda: nn.ZeroPad1d(1), (x(2, 3),), (), None),
        "ZeroPad2d": (lambda: nn.ZeroPad2d((1, 0, 2, 0)), (x(1, 2, 2),), (), None),
        "ZeroPad3d": (lambda: nn.ZeroPad3d(1), (x(1, 1, 2, 1, 2),), (), None),
        "ReflectionPad1d": (lambda: nn.ReflectionPad1d(2), (x(1, 2, 4),), (), None),
        "ReflectionPad2d": (lambda: nn.ReflectionPad2d((1, 1, 2, 0)), (x(1, 1, 3, 3),), (), None),
        "ReflectionPad3d": (lambda: nn.ReflectionPad3d(1), (x(1, 1, 2, 2, 2),), (), None),
        "ReplicationPad1d": (lambda: nn.ReplicationPad1d((2, 1)), (x(1, 2, 3),), (), None),
        "ReplicationPad2d": (lambda: nn.ReplicationPad2d(1), (x(1, 1, 2, 3),), (), None),
        "ReplicationPad3d": (lambda: nn.ReplicationPad3d((1, 0, 1, 0, 0, 1)), (x(1, 1, 2, 2, 2),), (), None),
        "CircularPad1d": (lambda: nn.CircularPad1d(1), (x(1, 2, 3),), (), None),
        "CircularPad2d": (lambda: nn.CircularPad2d((1, 0, 1, 1)), (x(1, 1, 2, 3),), (), None),
        "CircularPad3d": (lambda: nn.CircularPad3d(1), (x(1, 1, 2, 2, 2),), (), None),
        # distances and RReLU (train mode: slopes drawn once per evaluation, reseeded)
        "CosineSimilarity": (lambda: nn.CosineSimilarity(dim=1), (x(3, 4), x(3, 4)), (), None),
        "PairwiseDistance": (lambda: nn.PairwiseDistance(p=3.0), (x(3, 4), x(3, 4)), (), None),
        "RReLU": (lambda: nn.RReLU(), (act(3, 4),), (), None),
        # losses
        "AdaptiveLogSoftmaxWithLoss": (lambda: nn.AdaptiveLogSoftmaxWithLoss(4, 9, [3, 6], div_value=2.0,
                                                                           head_bias=True), (x(5, 4),),
                                       (np.array([0, 4, 8, 2, 6]),), lambda m, a, t: m(a, Tensor(t))),
        "BCELoss": (lambda: nn.BCELoss(weight=Tensor(np.array([1.0, 2.0, 0.5]))),
                    (np.random.default_rng(seed).uniform(0.1, 0.9, (4, 3)),
                     np.random.default_rng(seed + 1).uniform(0, 1, (4, 3))), (), None),
        "BCEWithLogitsLoss": (lambda: nn.BCEWithLogitsLoss(pos_weight=Tensor(np.array([1.0, 3.0, 0.5]))),
                              (x(4, 3), np.random.default_rng(seed).uniform(0, 1, (4, 3))), (), None),
        "CosineEmbeddingLoss": (lambda: nn.CosineEmbeddingLoss(margin=-0.9), (x(3, 4), x(3, 4)),
                                (np.array([1, -1, -1]),), None),
        "CrossEntropyLoss": (lambda: nn.CrossEntropyLoss(weight=Tensor(np.array([1.0, 2.0, 0.5, 1.5])),
                                                         label_smoothing=0.1), (x(3, 4),), (tgt,), None),
        "LinearCrossEntropyLoss": (lambda: nn.LinearCrossEntropyLoss(5, 4, bias=True, label_smoothing=0.1),
                                   (x(3, 5),), (tgt,), lambda m, a, t: m(a, Tensor(t))),
        "CrossMapLRN2d": (lambda: nn.CrossMapLRN2d(3, alpha=0.5, k=1.0), (x(2, 5, 3, 3),), (), None),
        "CTCLoss": (lambda: nn.CTCLoss(), (x(5, 2, 4),), (ctc_tg, np.array([5, 5]), np.array([2, 2])),
                    lambda m, a, *r: m(a.log_softmax(-1), *r)),
        "HuberLoss": (lambda: nn.HuberLoss(delta=0.5), (x(3, 4), x(3, 4) + 0.3), (), None),
        "KLDivLoss": (lambda: nn.KLDivLoss(reduction="batchmean", log_target=True), (x(3, 4), x(3, 4)), (), None),
        "L1Loss": (lambda: nn.L1Loss(), (x(3, 4), x(3, 4) + 0.3), (), None),
        "MSELoss": (lambda: nn.MSELoss(reduction="sum"), (x(3, 4), x(3, 4)), (), None),
        "MarginRankingLoss": (lambda: nn.MarginRankingLoss(margin=-5.0), (x(5), x(5)), (np.array([1, -1, 1, 1, -1]),),
                              None),
        "NLLLoss": (lambda: nn.NLLLoss(ignore_index=2), (x(3, 4),), (np.array([0, 2, 3]),), None),
        "NLLLoss2d": (lambda: nn.NLLLoss2d(), (x(2, 3, 2, 2),), (np.array([[[0, 2], [1, 1]], [[2, 0], [0, 1]]]),),
                      None),
        "SmoothL1Loss": (lambda: nn.SmoothL1Loss(beta=0.5), (x(3, 4), x(3, 4) + 0.3), (), None),
        "TripletMarginLoss": (lambda: nn.TripletMarginLoss(margin=10.0, swap=True), (x(3, 4), x(3, 4), x(3, 4)), (),
                              None),
        "TripletMarginWithDistanceLoss": (lambda: nn.TripletMarginWithDistanceLoss(margin=10.0, swap=True),
                                          (x(3, 4), x(3, 4), x(3, 4)), (), None),
        "HingeEmbeddingLoss": (lambda: nn.HingeEmbeddingLoss(margin=5.0), (x(3, 4),),
                               (np.where(x(3, 4) > 0, 1.0, -1.0),), None),
        "SoftMarginLoss": (lambda: nn.SoftMarginLoss(), (x(3, 4),), (np.where(x(3, 4) > 0, 1.0, -1.0),), None),
        "MultiLabelMarginLoss": (lambda: nn.MultiLabelMarginLoss(), (x(3, 4),),
                                 (np.array([[3, 0, -1, 1], [1, 2, 3, -1], [0, -1, 2, 2]]),), None),
        "MultiLabelSoftMarginLoss": (lambda: nn.MultiLabelSoftMarginLoss(weight=Tensor(np.array([1.0, 2.0, 0.5, 1.5]))),
                                     (x(3, 4), np.random.default_rng(seed).uniform(0, 1, (3, 4))), (), None),
        "MultiMarginLoss": (lambda: nn.MultiMarginLoss(p=2, margin=10.0), (x(3, 4),), (np.array([0, 2, 3]),), None),
        "PoissonNLLLoss": (lambda: nn.PoissonNLLLoss(full=True), (x(3, 4),),
                           (np.random.default_rng(seed).integers(0, 5, (3, 4)).astype(np.float64),), None),
        "GaussianNLLLoss": (lambda: nn.GaussianNLLLoss(full=True),
                            (x(3, 4), x(3, 4), np.random.default_rng(seed).uniform(0.5, 2.0, (3, 4))), (), None),
    }


# Classes with no case, and why: containers have no forward of their own (Sequential has a case);
# the sinusoidal table is a constant lookup (no parameter, integer positions: nothing to differentiate).
EXEMPT = {
    "Module": "abstract base",
    "RNNBase": "base of RNN/GRU/LSTM without a forward, as torch's (each of those has a case)",
    "RNNCellBase": "base of RNNCell/GRUCell/LSTMCell without a forward, as torch's (each of those has a case)",
    "ModuleDict": "container without a forward",
    "Container": "container without a forward",
    "ModuleList": "container without a forward",
    "ParameterDict": "container without a forward",
    "ParameterList": "container without a forward",
    "SinusoidalPositionalEncoding": "a constant table read at integer positions: no gradient exists",
}


def _layer_classes() -> list[str]:
    return sorted(n for n in nn.__all__ if isinstance(getattr(nn, n), type) and issubclass(getattr(nn, n), nn.Module))


def test_every_layer_has_a_case():
    missing = [n for n in _layer_classes() if n not in _cases(0) and n not in EXEMPT]
    assert not missing, f"nn layers without a gradcheck case: {missing}"
    assert not set(EXEMPT) & set(_cases(0))


def _first_forward(module, shape):
    """A lazy module after its first forward (its parameters made from the input's shape)."""
    module(Tensor.zeros(*shape))
    return module


def _check(name: str, seed: int) -> None:
    factory, floats, extra, call = _cases(seed)[name]
    engine.manual_seed(seed)
    m = factory()
    m.double()
    m.train()
    params = list(m.parameters())
    ins = [Tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in floats]
    call = call or (lambda mod, *a: mod(*a))

    def fn(*args):
        engine.manual_seed(1234)  # dropout: the same mask on every evaluation
        out = call(m, *args[: len(ins)], *extra)
        outs = [o for o in (out if isinstance(out, tuple) else (out,)) for o in (o if isinstance(o, tuple) else (o,))]
        outs = [o for o in outs if isinstance(o, Tensor) and o.dtype.kind == "f"]
        # every float output counts: a fixed random projection of each, summed
        total = None
        for k, o in enumerate(outs):
            w = np.random.default_rng(k).standard_normal(o.shape)
            term = (o * Tensor(w)).sum()
            total = term if total is None else total + term
        return total

    checked = ins + [p for p in params if p.requires_grad]
    assert checked, f"{name}: nothing to check"
    gradcheck(fn, *ins, *[p for p in params if p.requires_grad], max_entries=12, seed=seed)


@pytest.mark.parametrize("name", sorted(_cases(0)))
def test_layer_gradcheck(name):
    _check(name, 0)


# A second draw of inputs and weights for the cheap layers, by hypothesis.
CHEAP = [n for n in sorted(_cases(0)) if not n.startswith(("Transformer", "RNN", "GRU", "LSTM", "Conv", "Multihead"))]


@settings(max_examples=5, deadline=None)
@given(name=st.sampled_from(CHEAP), seed=st.integers(1, 2**16))
def test_layer_gradcheck_more_draws(name, seed):
    _check(name, seed)
