"""What `GraphAttention` computes, as functions of the layer (private).

PyTorch Geometric keeps `GATConv` and `GATv2Conv` as two classes. Ours is
one public class with `version=` (its config and saved `.keras` files name
it so); what the versions do differently, the score of an edge and the
weights it needs, is one class each here, `GATScores` and `GATv2Scores`.
They create their weights on the layer, under the names and in the order
the saved files hold them. What both share, the two layouts of one pass
(sparse: segment ops over `[2, E]` edges; dense: a masked softmax over
`[B, N, N]`), is `sparse_pass` and `dense_pass`.

Shapes: `B` batch, `N` nodes, `E` edges given, `E'` edges used (with the
self loops), `F` node features, `Fe` edge features, `H` heads, `U` units.
"""

from keras import ops

from keras_attention.layers._graph import (
    dense_loop_features,
    guard_indices,
    head_dot,
    head_sum,
    poison,
    segment_softmax,
    self_loop_mask,
    sparse_edges,
    sparse_loop_features,
    static_or_dynamic,
    zero_masked,
)
from keras_attention.layers._masking import masked_softmax


class GATScores:
    """Velickovic et al. (2018), eqs. 1-3:
    `e_ij = LeakyReLU(a_r . W h_i + a_s . W h_j [+ a_e . W_e x_ij])`.

    Each attention vector dots one head's `U` units, so a node's two terms
    are computed once per node (`[N, H]`) and gathered per edge; an edge
    never holds a `[H*U]` row for its score. The LeakyReLU runs in float32,
    as the softmax that follows does.
    """

    @staticmethod
    def add_weights(layer):
        """`a_s`, `a_r`, and with edge features `W_e` and `a_e`, in this order."""
        layer.sender_attention_kernel = layer._add_attention(
            "sender_attention_kernel", 0
        )
        layer.receiver_attention_kernel = layer._add_attention(
            "receiver_attention_kernel", 1
        )
        if layer._edge_dim is not None:
            layer.edge_kernel = layer._add_kernel(
                "edge_kernel", (layer._edge_dim, layer.num_heads * layer.units), 2
            )
            layer.edge_attention_kernel = layer._add_attention(
                "edge_attention_kernel", 2
            )

    @staticmethod
    def sparse(
        layer, inputs, projected, sender_rows, senders, receivers, edge_features
    ):
        """float32 `[E', H]`; `projected` `[N, H*U]`, indices `[E']`."""
        sender_scores = head_sum(projected, layer.sender_attention_kernel)  # [N, H]
        receiver_scores = head_sum(projected, layer.receiver_attention_kernel)
        scores = ops.take(sender_scores, senders, axis=0) + ops.take(
            receiver_scores, receivers, axis=0
        )  # [E', H]
        if edge_features is not None:
            scores = scores + ops.matmul(edge_features, GATScores.edge_matrix(layer))
        return ops.leaky_relu(ops.cast(scores, "float32"), layer.negative_slope)

    @staticmethod
    def dense(layer, inputs, projected, edge_features):
        """float32 `[B, N_i, N_j, H]`, entry `[b, i, j]` for the edge `j -> i`."""
        sender_scores = head_dot(projected, layer.sender_attention_kernel)  # [B, N, H]
        receiver_scores = head_dot(projected, layer.receiver_attention_kernel)
        scores = receiver_scores[:, :, None, :] + sender_scores[:, None, :, :]
        if edge_features is not None:
            scores = scores + ops.matmul(edge_features, GATScores.edge_matrix(layer))
        return ops.leaky_relu(ops.cast(scores, "float32"), layer.negative_slope)

    @staticmethod
    def edge_matrix(layer):
        """`[Fe, H]`: `a_e . W_e x` is `x` times this matrix."""
        return head_dot(layer.edge_kernel, layer.edge_attention_kernel)


class GATv2Scores:
    """Brody, Alon and Yahav (2022), eq. 7:
    `e_ij = a . LeakyReLU(W_r h_i + W_s h_j [+ W_e x_ij])`, the paper's
    `a^T LeakyReLU(W [h_i || h_j])` with `W = [W_r | W_s]`.

    The nonlinearity comes before `a`, so the ranking of senders depends on
    the receiver; the price is a `[H*U]` row per edge. `W_s h_j` is the
    message as well, gathered once for both.
    """

    @staticmethod
    def add_weights(layer):
        """`W_r`, `a`, and with edge features `W_e`, in this order."""
        width = layer.num_heads * layer.units
        layer.receiver_kernel = layer._add_kernel(
            "receiver_kernel", (layer._num_features, width), 1
        )
        layer.attention_kernel = layer._add_attention("attention_kernel", 0)
        if layer._edge_dim is not None:
            layer.edge_kernel = layer._add_kernel(
                "edge_kernel", (layer._edge_dim, width), 2
            )

    @staticmethod
    def sparse(
        layer, inputs, projected, sender_rows, senders, receivers, edge_features
    ):
        """`[E', H]`; `sender_rows` `[E', H*U]` are `W_s h_j`, gathered."""
        hidden = sender_rows + ops.take(
            ops.matmul(inputs, layer.receiver_kernel), receivers, axis=0
        )  # [E', H*U]
        if edge_features is not None:
            hidden = hidden + ops.matmul(edge_features, layer.edge_kernel)
        hidden = ops.leaky_relu(hidden, layer.negative_slope)
        return head_sum(hidden, layer.attention_kernel)  # [E', H]

    @staticmethod
    def dense(layer, inputs, projected, edge_features):
        """`[B, N_i, N_j, H]`, entry `[b, i, j]` for the edge `j -> i`."""
        receivers = ops.matmul(inputs, layer.receiver_kernel)  # [B, N, H*U]
        hidden = receivers[:, :, None, :] + projected[:, None, :, :]
        if edge_features is not None:
            hidden = hidden + ops.matmul(edge_features, layer.edge_kernel)
        hidden = ops.leaky_relu(hidden, layer.negative_slope)  # [B, N, N, H*U]
        return head_dot(hidden, layer.attention_kernel)


SCORES = {"gat": GATScores, "gatv2": GATv2Scores}


def combine_heads(layer, attended):
    """`[..., H, U]` -> `[..., H*U]` or `[..., U]`, then bias and activation."""
    if layer.concat_heads:
        shape = ops.shape(attended)
        outputs = ops.reshape(
            attended, tuple(shape[:-2]) + (layer.num_heads * layer.units,)
        )
    else:
        outputs = ops.mean(attended, axis=-2)
    if layer.use_bias:
        outputs = outputs + layer.bias
    return layer.activation(outputs)


def sparse_pass(layer, node_features, edges, edge_features, training):
    """`(outputs [N, H*U] or [N, U], coefficients [E', H])` over `[2, E]` edges.

    A bad edge index (see `guard_indices`) turns both into NaN.
    """
    num_nodes = static_or_dynamic(node_features, 0)
    num_edges = static_or_dynamic(edges, 1)
    if node_features.shape[0] == 0:
        # No node: empty outputs (Keras's PyTorch segment ops would read
        # num_segments=0 as "not given"); any edge is out of range.
        any_bad = guard_indices(edges, 0)[2]
        width = layer.num_heads * layer.units if layer.concat_heads else layer.units
        outputs = ops.zeros((0, width), layer.compute_dtype)
        coefficients = ops.zeros((num_edges, layer.num_heads), layer.compute_dtype)
        return poison(outputs, any_bad), poison(coefficients, any_bad)
    senders, receivers, keep, any_bad = sparse_edges(
        edges, num_nodes, layer.add_self_loops
    )  # [E'] each
    if edge_features is not None and layer.add_self_loops:
        loops = sparse_loop_features(
            edge_features, receivers[:num_edges], keep[:num_edges], num_nodes
        )  # [N, Fe]
        loops = ops.cast(loops, layer.compute_dtype)
        edge_features = ops.concatenate([edge_features, loops], axis=0)  # [E', Fe]

    inputs = layer._input_dropout(node_features, training=training)
    projected = ops.matmul(inputs, layer.kernel)  # [N, H*U]
    # Gathered once: GATv2 scores them and both versions send them.
    sender_rows = ops.take(projected, senders, axis=0)  # [E', H*U]
    if not layer.add_self_loops:
        # Every edge takes part; `keep` would only repeat the guard, whose
        # flag already turns the outputs into NaN.
        keep = None
    scores = SCORES[layer.version].sparse(
        layer, inputs, projected, sender_rows, senders, receivers, edge_features
    )  # [E', H]

    coefficients = segment_softmax(scores, receivers, num_nodes, keep)  # f32 [E', H]
    coefficients = ops.cast(coefficients, layer.compute_dtype)
    dropped = layer._attention_dropout(coefficients, training=training)
    heads, units = layer.num_heads, layer.units
    messages = ops.reshape(sender_rows, (-1, heads, units))  # [E', H, U]
    attended = ops.segment_sum(
        messages * dropped[:, :, None], receivers, num_segments=num_nodes
    )  # [N, H, U]
    outputs = combine_heads(layer, attended)  # [N, H*U] or [N, U]
    # The coefficients that weighted the messages, dropout included, as
    # GATConv returns them.
    return poison(outputs, any_bad), poison(dropped, any_bad)


def dense_pass(layer, node_features, adjacency, edge_features, node_mask, training):
    """`(outputs [B, N, H*U] or [B, N, U], coefficients [B, H, N, N])` over
    an adjacency `[B, N, N]` (row = receiver); padding nodes output zeros."""
    batch = ops.shape(node_features)[0]
    num_nodes = static_or_dynamic(node_features, 1)
    if node_features.shape[1] == 0:
        # No node, nothing to attend over: the masked softmax would reduce
        # over an empty axis.
        width = layer.num_heads * layer.units if layer.concat_heads else layer.units
        return (
            ops.zeros((batch, 0, width), layer.compute_dtype),
            ops.zeros((batch, layer.num_heads, 0, 0), layer.compute_dtype),
        )
    connected = ops.cast(adjacency, "bool")  # [B, N, N], row = receiver
    diagonal = self_loop_mask(num_nodes)[None]  # [1, N, N]
    if node_mask is not None:
        node_mask = ops.cast(node_mask, "bool")
        # A padding node's features are selected away before anything
        # reads them: a 0 weight times its NaN would still be NaN.
        node_features = zero_masked(node_features, node_mask)  # [B, N, F]
        pairs = ops.logical_and(node_mask[:, :, None], node_mask[:, None, :])
        connected = ops.logical_and(connected, pairs)
    if edge_features is not None and layer.add_self_loops:
        edge_features = dense_loop_features(
            edge_features, ops.logical_and(connected, ops.logical_not(diagonal))
        )
        edge_features = ops.cast(edge_features, layer.compute_dtype)
    if layer.add_self_loops:
        loops = diagonal
        if node_mask is not None:
            loops = ops.logical_and(loops, node_mask[:, :, None])
        connected = ops.logical_or(connected, loops)
    if edge_features is not None:
        # Non-edges and padding pairs score nothing: select their features
        # away so that a NaN there never reaches the softmax.
        edge_features = ops.where(
            connected[..., None], edge_features, ops.zeros((), edge_features.dtype)
        )  # [B, N, N, Fe]

    inputs = layer._input_dropout(node_features, training=training)
    projected = ops.matmul(inputs, layer.kernel)  # [B, N, H*U]
    scores = SCORES[layer.version].dense(
        layer, inputs, projected, edge_features
    )  # [B, N_i, N_j, H]
    scores = ops.transpose(scores, (0, 3, 1, 2))  # [B, H, N_i, N_j]

    coefficients = masked_softmax(scores, connected[:, None])  # f32 [B, H, N, N]
    coefficients = ops.cast(coefficients, layer.compute_dtype)
    dropped = layer._attention_dropout(coefficients, training=training)
    values = ops.transpose(
        ops.reshape(projected, (batch, num_nodes, layer.num_heads, layer.units)),
        (0, 2, 1, 3),
    )  # [B, H, N, U]
    attended = ops.transpose(ops.matmul(dropped, values), (0, 2, 1, 3))  # [B, N, H, U]
    outputs = combine_heads(layer, attended)  # [B, N, H*U] or [B, N, U]
    if node_mask is not None:
        outputs = ops.where(node_mask[:, :, None], outputs, 0)
    return outputs, dropped  # dropout included, as in the sparse pass
