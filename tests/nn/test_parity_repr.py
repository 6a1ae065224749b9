"""repr of module trees equals torch's string, for every layer type (norm layers with every flag)."""

from collections import OrderedDict

import pytest

import nn

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

MAKERS = {
    "linear": lambda m: m.Linear(3, 4, bias=False),
    "bilinear": lambda m: m.Bilinear(2, 3, 4),
    "embedding": lambda m: m.Embedding(10, 3, padding_idx=0, max_norm=1.0),
    "embedding_plain": lambda m: m.Embedding(10, 3),
    "embeddingbag": lambda m: m.EmbeddingBag(10, 3, mode="sum"),
    "flatten": lambda m: m.Flatten(0, 2),
    "unflatten": lambda m: m.Unflatten(1, (2, 3)),
    "identity": lambda m: m.Identity(),
    "dropouts": lambda m: m.Sequential(m.Dropout(0.2), m.Dropout1d(), m.Dropout2d(0.1), m.Dropout3d(),
                                       m.AlphaDropout(0.3), m.FeatureAlphaDropout()),
    "batchnorm": lambda m: m.Sequential(m.BatchNorm1d(3), m.BatchNorm2d(4, eps=1e-3, momentum=None),
                                        m.BatchNorm3d(2, affine=False), m.BatchNorm1d(3, bias=False),
                                        m.BatchNorm2d(2, track_running_stats=False)),
    "instancenorm": lambda m: m.Sequential(m.InstanceNorm1d(3), m.InstanceNorm2d(4, affine=True),
                                           m.InstanceNorm3d(2, track_running_stats=True),
                                           m.InstanceNorm1d(3, affine=True, bias=False)),
    "groupnorm": lambda m: m.Sequential(m.GroupNorm(2, 4), m.GroupNorm(1, 3, affine=False),
                                        m.GroupNorm(2, 4, bias=False)),
    "layernorm": lambda m: m.Sequential(m.LayerNorm(4), m.LayerNorm((2, 3), eps=1e-3, elementwise_affine=False),
                                        m.LayerNorm(4, bias=False)),
    "rmsnorm": lambda m: m.Sequential(m.RMSNorm(4), m.RMSNorm([2, 3], eps=1e-6, elementwise_affine=False)),
    "lrn": lambda m: m.LocalResponseNorm(3, alpha=1e-3, beta=0.5, k=2.0),
    "conv": lambda m: m.Sequential(m.Conv1d(2, 4, 3), m.Conv2d(2, 4, (3, 2), stride=2, padding=1, bias=False),
                                   m.Conv2d(2, 2, 3, padding="same", padding_mode="reflect", groups=2, dilation=2),
                                   m.Conv3d(1, 2, 2), m.ConvTranspose1d(2, 3, 3, stride=2, output_padding=1),
                                   m.ConvTranspose2d(4, 2, 2, groups=2)),
    "pool": lambda m: m.Sequential(m.MaxPool1d(2), m.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
                                   m.AvgPool1d(3), m.AvgPool2d(2, count_include_pad=False), m.AdaptiveAvgPool1d(3),
                                   m.AdaptiveAvgPool2d((2, None)), m.AdaptiveMaxPool1d(2), m.AdaptiveMaxPool2d(3)),
    "resample": lambda m: m.Sequential(m.Upsample(scale_factor=2), m.Upsample(size=(3, 4), mode="bilinear",
                                                                              align_corners=True),
                                       m.UpsamplingNearest2d(scale_factor=2), m.UpsamplingBilinear2d(size=4),
                                       m.PixelShuffle(2), m.PixelUnshuffle(3), m.Unfold(2, padding=1),
                                       m.Fold((4, 4), 2)),
    "recurrent": lambda m: m.Sequential(m.RNN(3, 4), m.RNN(3, 4, 2, nonlinearity="relu", batch_first=True),
                                        m.GRU(3, 4, bidirectional=True, dropout=0.1, num_layers=2),
                                        m.LSTM(3, 4, proj_size=2), m.RNNCell(3, 4), m.GRUCell(3, 4),
                                        m.LSTMCell(3, 4, bias=False)),
    "attention": lambda m: m.MultiheadAttention(8, 2, kdim=3, vdim=5),
    "transformer": lambda m: m.Transformer(8, 2, 1, 1, dim_feedforward=16),
    "encoder": lambda m: m.TransformerEncoder(m.TransformerEncoderLayer(8, 2, 16, norm_first=True), 2,
                                              norm=m.LayerNorm(8)),
    "decoder": lambda m: m.TransformerDecoder(m.TransformerDecoderLayer(8, 2, 16, activation="gelu"), 1),
    "activations": lambda m: m.Sequential(m.ReLU(), m.LeakyReLU(0.2), m.ELU(), m.GELU("tanh"), m.Softmax(dim=1),
                                          m.PReLU(3), m.Hardtanh(-2, 2), m.Threshold(0.1, 20), m.Softplus(2)),
    "losses": lambda m: m.Sequential(m.MSELoss(), m.CrossEntropyLoss(label_smoothing=0.1), m.CTCLoss(blank=1),
                                     m.TripletMarginLoss(), m.CosineEmbeddingLoss(), m.MarginRankingLoss()),
    "containers": lambda m: m.Sequential(OrderedDict(
        block=m.Sequential(m.Linear(2, 2), m.ReLU()),
        heads=m.ModuleList([m.Linear(2, 1), m.Linear(2, 1)]),
        named=m.ModuleDict({"a": m.Tanh(), "b": m.Identity()}),
    )),
}


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_repr_equals_torch(name):
    assert repr(MAKERS[name](nn)) == repr(MAKERS[name](torch.nn))


def test_sequential_slice_repr_keeps_indices():
    make = lambda m: m.Sequential(m.Linear(1, 2), m.ReLU(), m.Linear(2, 1), m.Tanh())  # noqa: E731
    assert repr(make(nn)[1:3]) == repr(make(torch.nn)[1:3])
