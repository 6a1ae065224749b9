"""torch parity leftovers (s14): overflow errors of full/tensor/fill_, bool floor division and
remainder, argmax on bool, strict randint/normal argument types, manual_seed's Generator, and
requires_grad of bernoulli/poisson draws. Every expectation is torch's own behaviour."""

import pytest

import engine

torch = pytest.importorskip("torch")


def _outcome(fn):
    """("ok", dtype name, value list) or ("err", exception type)."""
    try:
        out = fn()
    except Exception as e:  # noqa: BLE001 - the type is what is compared
        return ("err", type(e))
    return ("ok", str(out.dtype).replace("torch.", ""), out.tolist())


def _same(ours, theirs):
    a, b = _outcome(ours), _outcome(theirs)
    assert a == b, (a, b)


FULL_CASES = [(300, "int8"), (-129, "int8"), (255, "int8"), (-1, "uint8"), (-129, "uint8"), (256, "uint8"),
              (2 ** 63, "int64"), (2 ** 63, "int8"), (2 ** 64, "int64"), (-(2 ** 63) - 1, "int64"),
              (1e10, "int8"), (float("inf"), "int32"), (float("nan"), "int16"), (2.5, "int8"), (-2.5, "uint8"),
              (127, "int8"), (True, "int8")]


@pytest.mark.parametrize("value,dtype", FULL_CASES)
def test_full_integer_overflow(value, dtype):
    _same(lambda: engine.full((2,), value, dtype=getattr(engine, dtype)),
          lambda: torch.full((2,), value, dtype=getattr(torch, dtype)))


@pytest.mark.parametrize("value,dtype", FULL_CASES)
def test_fill_integer_overflow(value, dtype):
    _same(lambda: engine.zeros(2, dtype=getattr(engine, dtype)).fill_(value),
          lambda: torch.zeros(2, dtype=getattr(torch, dtype)).fill_(value))


@pytest.mark.parametrize("data,dtype", [([2 ** 64], "uint8"), ([2 ** 64], None), ([-(2 ** 63) - 1], None),
                                        ([2 ** 63], None), ([300], "uint8"), ([-1], "uint8"), ([2 ** 65], "int64")])
def test_tensor_integer_overflow(data, dtype):
    _same(lambda: engine.tensor(data, dtype=dtype and getattr(engine, dtype)),
          lambda: torch.tensor(data, dtype=dtype and getattr(torch, dtype)))


BOOL_OPS = [lambda m, a, b: a // b, lambda m, a, b: a % b, lambda m, a, b: m.fmod(a, b),
            lambda m, a, b: m.div(a, b, rounding_mode="trunc"), lambda m, a, b: m.div(a, b, rounding_mode="floor"),
            lambda m, a, b: m.remainder(a, b), lambda m, a, b: m.floor_divide(a, b),
            lambda m, a, b: a // True, lambda m, a, b: True % b, lambda m, a, b: a // 2, lambda m, a, b: a % 2,
            lambda m, a, b: a / b, lambda m, a, b: a * b, lambda m, a, b: a + b,
            lambda m, a, b: a // m.tensor([1, 2]), lambda m, a, b: m.tensor([3, 4]) % b]


@pytest.mark.parametrize("i", range(len(BOOL_OPS)))
def test_bool_floor_division_and_remainder(i):
    f = BOOL_OPS[i]
    _same(lambda: f(engine, engine.tensor([True, False]), engine.tensor([True, True])),
          lambda: f(torch, torch.tensor([True, False]), torch.tensor([True, True])))


BOOL_REDUCTIONS = [lambda m, t: t.argmax(), lambda m, t: t.argmin(), lambda m, t: m.argmax(t, 1),
                   lambda m, t: t.argmin(0, keepdim=True), lambda m, t: t.max(), lambda m, t: t.min(),
                   lambda m, t: t.max(1).values, lambda m, t: t.min(1).indices, lambda m, t: t.amax(0),
                   lambda m, t: t.topk(1).values, lambda m, t: t.topk(1, largest=False).indices,
                   lambda m, t: t.float().argmax(1), lambda m, t: t.argsort(1)]


@pytest.mark.parametrize("i", range(len(BOOL_REDUCTIONS)))
def test_bool_argmax_argmin_topk(i):
    f, data = BOOL_REDUCTIONS[i], [[True, False, True], [False, False, True]]
    _same(lambda: f(engine, engine.tensor(data)), lambda: f(torch, torch.tensor(data)))


SIZE_CALLS = [lambda m: m.randint(5, 3), lambda m: m.randint(0.5, 5.5, (3,)), lambda m: m.randint(5.5, (3,)),
              lambda m: m.randint(0, 5.0, (3,)), lambda m: m.randint(True, (3,)), lambda m: m.randint(5, size=3),
              lambda m: m.randint(0, 5, (3.0,)), lambda m: m.randint(5, size=(3,)),
              lambda m: m.randint(high=5, size=(3,)),
              lambda m: m.randint(0, 5, m.Size([3])), lambda m: m.randint(0, 5, ()), lambda m: m.randint(5, [2, 3]),
              lambda m: m.normal(0.0, 1.0, 3), lambda m: m.normal(0.0, 1.0, size=3),
              lambda m: m.normal(0.0, 1.0, (3.0,)),
              lambda m: m.normal(0, 1, (3,)), lambda m: m.normal(0.0, 1.0, [3]), lambda m: m.normal(0.0, 1.0, ()),
              lambda m: m.normal(mean=0.0, std=1.0, size=(2,))]


@pytest.mark.parametrize("i", range(len(SIZE_CALLS)))
def test_randint_normal_strict_argument_types(i):
    a, b = _outcome(lambda: SIZE_CALLS[i](engine)), _outcome(lambda: SIZE_CALLS[i](torch))
    assert a[:2] == b[:2] and (a[0] == "err" or len(a[2] if isinstance(a[2], list) else []) ==
                               len(b[2] if isinstance(b[2], list) else [])), (a, b)


@pytest.mark.parametrize("op", ["bernoulli", "poisson"])
def test_bernoulli_poisson_of_a_grad_input_require_grad_with_zero_gradient(op):
    ours, ref = engine.full((3,), 0.5, requires_grad=True), torch.full((3,), 0.5, requires_grad=True)
    a, b = getattr(engine, op)(ours), getattr(torch, op)(ref)
    assert a.requires_grad == b.requires_grad
    a.sum().backward()
    b.sum().backward()
    assert ours.grad.tolist() == ref.grad.tolist()
    with engine.no_grad(), torch.no_grad():
        assert getattr(engine, op)(ours).requires_grad == getattr(torch, op)(ref).requires_grad
