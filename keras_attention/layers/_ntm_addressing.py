"""How a Neural Turing Machine's heads address, read and write (private).

Graves, Wayne and Danihelka (2014), sec. 3.2 and 3.3, with the choices of
Collier and Beel (2018): `NTMCell.call` decodes the controller's output
into every head's parameters (`decode_head_parameters`), addresses the memory
(`address`: content weighting, interpolation, circular shift, sharpening),
then reads and writes. Each step is a small pure function in float32, so
that the tests can check it by hand.

Shapes: `B` batch, `H` heads, `N` memory rows, `M` row width, `W` write
heads, `R` largest shift.
"""

from keras import ops

# Added to the product of norms in the cosine (squared, see
# `content_weighting`) and to the weights before sharpening's logarithm.
EPSILON = 1e-8


def softplus(x):
    # max(x, 0) + log(1 + exp(-|x|)): exact, overflow-free, and made of TFLite
    # builtins (tf.nn.softplus is not one).
    return ops.maximum(x, 0.0) + ops.log(1.0 + ops.exp(-ops.abs(x)))


def content_weighting(memory, keys, beta, epsilon=EPSILON):
    """`softmax(beta * cosine(k, M_i))` over the rows: `[B, H, N]`.

    memory `[B, N, M]`, keys `[B, H, M]`, beta `[B, H, 1]`. The product of
    norms is `sqrt(|k|^2 |M_i|^2 + epsilon^2)`: within epsilon of
    `|k| |M_i|`, and unlike `|k| |M_i| + epsilon` its gradient stays finite
    at a zero row or a zero key (the square root's is infinite at zero).
    """
    dots = ops.matmul(keys, ops.transpose(memory, (0, 2, 1)))  # [B, H, N]
    key_norms = ops.sum(ops.square(keys), axis=-1, keepdims=True)  # [B, H, 1]
    row_norms = ops.sum(ops.square(memory), axis=-1)[:, None, :]  # [B, 1, N]
    cosine = dots * ops.rsqrt(key_norms * row_norms + epsilon**2)  # [B, H, N]
    return ops.softmax(beta * cosine, axis=-1)


def interpolate(content, previous, gate):
    """`g * w_content + (1 - g) * w_previous`: `[B, H, N]`, gate `[B, H, 1]`."""
    return gate * content + (1.0 - gate) * previous


def roll(weights, shift):
    """`weights` rotated by `shift` rows along the last axis (row i to i + shift).

    Two static slices and a concatenation (TFLite's STRIDED_SLICE and
    CONCATENATION, and plain slices under XLA), for a shift known when the
    graph is built.
    """
    size = weights.shape[-1]
    shift %= size
    if shift == 0:
        return weights
    head, tail = weights[..., size - shift :], weights[..., : size - shift]
    return ops.concatenate([head, tail], axis=-1)


def shift(weights, shifts):
    """Circular convolution `w~(i) = sum_j w(j) s(i - j)`: `[B, H, N]`.

    shifts `[B, H, 2R + 1]` is a distribution over the shifts `-R, ..., +R`
    in that order: all weight on `+1` moves every row's weight to the next
    row, the last wrapping to the first.
    """
    shift_range = (shifts.shape[-1] - 1) // 2
    shifted = [
        shifts[..., i : i + 1] * roll(weights, i - shift_range)  # [B, H, N]
        for i in range(2 * shift_range + 1)
    ]
    total = shifted[0]
    for term in shifted[1:]:
        total = total + term
    return total


def sharpen(weights, gamma, epsilon=EPSILON):
    """`w^gamma / sum(w^gamma)`, as `softmax(gamma * log(w + epsilon))`: `[B, H, N]`.

    gamma `[B, H, 1]`, at least one. The log-space form subtracts the max
    before exponentiating, so a flat weighting raised to a large gamma (for
    N = 128 and gamma = 21, `(1/128)^21` underflows float32) still sums to
    one instead of dividing zero by zero.
    """
    return ops.softmax(gamma * ops.log(weights + epsilon), axis=-1)


def read(memory, weights):
    """`r = sum_i w(i) M_i` per read head: `[B, H, M]` from `[B, N, M]`, `[B, H, N]`."""
    return ops.matmul(weights, memory)


def write(memory, weights, erase, add):
    """Erase then add, for every write head: the new memory `[B, N, M]`.

    weights `[B, W, N]`, erase and add `[B, W, M]`. With several heads all
    erasures come first (their products commute) and then all additions, as
    in sec. 3.2 of the paper.
    """
    for head in range(weights.shape[1]):
        memory = memory * (
            1.0 - weights[:, head, :, None] * erase[:, head, None, :]
        )  # [B, N, M]
    return memory + ops.matmul(ops.transpose(weights, (0, 2, 1)), add)  # [B, N, M]


def decode_head_parameters(
    parameters, num_heads, num_write_heads, memory_width, shift_range
):
    """Every head's addressing parameters, and the write heads' vectors.

    parameters `[B, P]`, the controller's clipped output in float32: per
    head (read heads first) `M + 2R + 4` values, then per write head `2M`.
    Returns a dict: key `k = tanh` `[B, H, M]`, strength `beta = softplus`,
    gate `g = sigmoid` and sharpening `gamma = 1 + softplus` (at least
    one), each `[B, H, 1]`, shift `s = softmax` over `-R..+R` `[B, H, 2R + 1]`,
    and erase `e = sigmoid` and add `a = tanh`, each `[B, W, M]`.
    """
    m, shifts = memory_width, 2 * shift_range + 1
    width = m + shifts + 3  # key, beta, gate, shifts, gamma
    heads = ops.reshape(
        parameters[:, : num_heads * width], (-1, num_heads, width)
    )  # [B, H, M + 2R + 4]
    writes = ops.reshape(
        parameters[:, num_heads * width :], (-1, num_write_heads, 2 * m)
    )  # [B, W, 2M]
    return {
        "keys": ops.tanh(heads[..., :m]),
        "beta": softplus(heads[..., m : m + 1]),
        "gate": ops.sigmoid(heads[..., m + 1 : m + 2]),
        "shift": ops.softmax(heads[..., m + 2 : m + 2 + shifts], axis=-1),
        "gamma": 1.0 + softplus(heads[..., m + 2 + shifts :]),
        "erase": ops.sigmoid(writes[..., :m]),
        "add": ops.tanh(writes[..., m:]),
    }


def address(memory, previous, heads):
    """Sec. 3.3's four steps: every head's new weighting `[B, H, N]`.

    memory `[B, N, M]`, previous weightings `[B, H, N]`, heads from
    `decode_head_parameters`.
    """
    weightings = content_weighting(memory, heads["keys"], heads["beta"])
    weightings = interpolate(weightings, previous, heads["gate"])
    weightings = shift(weightings, heads["shift"])
    return sharpen(weightings, heads["gamma"])  # [B, H, N]
