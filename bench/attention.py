"""Speed of our attention layers against their peers, measured in one run.

1. Forward plus backward of `MultiHeadSelfAttention` against
   `keras.layers.MultiHeadAttention` (B=16, T=256, D=256, 8 heads, causal),
   with and without `jit_compile` on TensorFlow, both again on JAX with
   `jax.jit` when JAX is installed (in a subprocess with KERAS_BACKEND=jax:
   Keras picks its backend once per process), and PyTorch's
   `nn.MultiheadAttention` as a further column when torch is installed
   (`pip install torch==2.13.0`).
2. Per-step time of the teacher-forced `BahdanauDecoder` against the same
   decoder built on `keras.layers.AdditiveAttention`.

3. With `--sweep`, a length sweep: forward plus backward of causal
   self-attention, D=256, 8 heads, at T = 256, 1,024, 4,096, 8,192 and
   32,768 with B=1 (and T up to 4,096 with B=4), for ours (`block_size=None`:
   blocks with an online softmax from T*S = 2048^2 on) and Keras's layer,
   each with and without XLA. Each configuration runs in a process of its
   own, which reports its median step time and the growth of its peak
   resident memory over the memory it held before the first step; a
   process gets at most `--memory-limit-gib` of data (RLIMIT_DATA), so a
   layer that needs more fails alone, reported as out of memory, without
   the machine's OOM killer.

Machines differ several-fold, so every figure is compared only within this
run and reported as a fraction of the float32 matrix-product peak measured
at the start. Prints a table and writes JSON (`--json`).

    python bench/attention.py [--repeats 20] [--json bench/results/attention.json]
    python bench/attention.py --sweep [--lengths 256,1024,4096,8192,32768]
                              [--json bench/results/attention_lengths.json]
"""

import argparse
import os
import platform
import statistics
import sys
import time

from edge_demo.quiet import quiet_process

if __name__ == "__main__":
    # Before TensorFlow is imported, so that its import-time lines hide too.
    quiet_process("--verbose" in sys.argv[1:])

import json  # noqa: E402
import subprocess  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _load import emit_json, failed_run, limit_data, resident_kib  # noqa: E402

from keras_attention import BahdanauDecoder, BahdanauDecoderCell  # noqa: E402
from keras_attention import MultiHeadSelfAttention  # noqa: E402


def _median_seconds(fn, repeats, warmup=3):
    return _interleaved_medians({"fn": fn}, repeats, warmup)["fn"]


def _interleaved_medians(steps, repeats, warmup=3):
    """Median seconds of each callable in `steps`, timed in alternation.

    Running the contenders round-robin spreads any drift in the machine's
    speed (other load, clock changes) over all of them alike.
    """
    for fn in steps.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, fn in steps.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def matmul_peak_gflops(n=2048, repeats=10):
    """Float32 GFLOP/s of one n x n matrix product, TensorFlow on this CPU."""
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    product = tf.function(lambda: tf.matmul(a, b))
    seconds = _median_seconds(lambda: product().numpy(), repeats)
    return 2 * n**3 / seconds / 1e9


def attention_flops(batch, length, dim, heads):
    """Forward + backward FLOPs of causal self-attention, counted dense.

    Forward: four `D x D` projections (2 B T D^2 each) and the two attention
    products (2 B H T^2 d each, d = D / H). The backward pass costs twice the
    forward. The causal mask's zeros are counted, so the figures are
    effective rates: ours computes causal attention in query blocks and skips
    3/8 of the attention products (see `_blocked_causal_attention`), which
    is part of its speed.
    """
    head_dim = dim // heads
    forward = 4 * 2 * batch * length * dim * dim
    forward += 2 * 2 * batch * heads * length * length * head_dim
    return 3 * forward


def _train_step(layer_call, variables, jit):
    @tf.function(jit_compile=jit)
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer_call(x)
            loss = tf.reduce_sum(y * y)
        return tape.gradient(loss, [x] + variables)

    return step


def _matched_pair(x, heads):
    """Our layer and Keras's with the same weights, checked to agree on `x`."""
    key_dim = x.shape[-1] // heads
    ours = MultiHeadSelfAttention(num_heads=heads, key_dim=key_dim)
    theirs = keras.layers.MultiHeadAttention(num_heads=heads, key_dim=key_dim)
    ours(x)
    theirs(x, x)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(
        ours(x, use_causal_mask=True), theirs(x, x, use_causal_mask=True), atol=1e-4
    )
    return ours, theirs


def bench_multi_head(batch, length, dim, heads, repeats):
    x = tf.random.normal((batch, length, dim))
    ours, theirs = _matched_pair(x, heads)
    calls = {
        "ours": (lambda t: ours(t, use_causal_mask=True), ours.trainable_variables),
        "keras": (
            lambda t: theirs(t, t, use_causal_mask=True),
            theirs.trainable_variables,
        ),
    }
    steps = {}
    for jit in (False, True):
        for name, (call, variables) in calls.items():
            step = _train_step(call, variables, jit)
            steps[(name, jit)] = lambda step=step: [g.numpy() for g in step(x)]
    results = {
        (name, "tensorflow", jit): seconds
        for (name, jit), seconds in _interleaved_medians(steps, repeats).items()
    }
    # PyTorch gets a loop of its own: alternating with TensorFlow in one loop
    # slowed it by half (the two runtimes' thread pools contend), which would
    # flatter us.
    torch_step = torch_train_step(batch, length, dim, heads)
    if torch_step is not None:
        results[("torch", "torch", False)] = _median_seconds(torch_step, repeats)
    for name, seconds in jax_medians(batch, length, dim, heads, repeats).items():
        results[(name, "jax", True)] = seconds
    return results


def jax_medians(batch, length, dim, heads, repeats):
    """`{"ours": s, "keras": s}` on JAX, from a subprocess; {} without JAX."""
    try:
        import jax  # noqa: F401
    except ImportError:
        return {}
    env = {**os.environ, "KERAS_BACKEND": "jax", "CUDA_VISIBLE_DEVICES": ""}
    command = [sys.executable, os.path.abspath(__file__), "--jax-worker",
               "--repeats", str(repeats)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"the JAX run failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def jax_worker(batch, length, dim, heads, repeats):
    """Both layers' forward + backward under `jax.jit`, as `jax_medians` reads it."""
    import jax
    import jax.numpy as jnp

    assert keras.backend.backend() == "jax", keras.backend.backend()
    x = keras.random.normal((batch, length, dim), seed=0)
    ours, theirs = _matched_pair(x, heads)

    def step_of(layer, inputs):
        trainable = [v.value for v in layer.trainable_variables]
        fixed = [v.value for v in layer.non_trainable_variables]

        def loss(trainable, x):
            y, _ = layer.stateless_call(
                trainable, fixed, *inputs(x), use_causal_mask=True
            )
            return jnp.sum(y * y)

        gradient = jax.jit(jax.grad(loss, argnums=(0, 1)))
        return lambda: jax.block_until_ready(gradient(trainable, x))

    steps = {
        "ours": step_of(ours, lambda t: (t,)),
        "keras": step_of(theirs, lambda t: (t, t)),
    }
    print(json.dumps(_interleaved_medians(steps, repeats)))


def torch_train_step(batch, length, dim, heads):
    """Forward + backward of `torch.nn.MultiheadAttention`, or None."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    layer = torch.nn.MultiheadAttention(dim, heads, batch_first=True)
    x = torch.randn(batch, length, dim, requires_grad=True)
    causal = torch.nn.Transformer.generate_square_subsequent_mask(length)

    def step():
        layer.zero_grad(set_to_none=True)
        x.grad = None
        y, _ = layer(x, x, x, attn_mask=causal, need_weights=False, is_causal=True)
        (y * y).sum().backward()

    return step


class AdditiveAttentionDecoderCell(keras.layers.Layer):
    """The Bahdanau decoder written with `keras.layers.AdditiveAttention`.

    The peer of `BahdanauDecoderCell` in this benchmark: the same GRU, the
    same projections (keys precomputed once, as ours does), the same source
    padding mask, the score from Keras's additive attention layer.
    """

    def __init__(self, units, attention_units, value_dim, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.gru = keras.layers.GRUCell(units)
        self.query_dense = keras.layers.Dense(attention_units, use_bias=False)
        self.attention = keras.layers.AdditiveAttention(use_scale=True)
        self.state_size = [units, (None, value_dim), (None, attention_units), (None,)]
        self.output_size = units + value_dim

    def build(self, input_shape):
        self.query_dense.build((None, self.units))
        self.gru.build((None, input_shape[-1] + self.state_size[1][1]))
        self.built = True

    def call(self, inputs, states, training=None):
        state, values, keys, values_mask = states
        query = self.query_dense(state)[:, None, :]  # [B, 1, U]
        mask = [None, keras.ops.cast(values_mask, "bool")]
        context = self.attention([query, values, keys], mask=mask)[:, 0]  # [B, Dv]
        output, new_state = self.gru(
            keras.ops.concatenate([inputs, context], -1), state, training=training
        )
        new_state = new_state[0] if isinstance(new_state, (list, tuple)) else new_state
        return keras.ops.concatenate([output, context], -1), [
            new_state, values, keys, values_mask
        ]


def bench_bahdanau(batch, source_length, target_length, units, repeats):
    """Seconds per decoder step, forward and backward, teacher forced."""
    values = tf.random.normal((batch, source_length, units))
    # Real batches are padded: the last quarter of half the sources.
    lengths = np.where(np.arange(batch) % 2, source_length, source_length * 3 // 4)
    values_mask = tf.constant(np.arange(source_length)[None, :] < lengths[:, None])
    targets = tf.random.normal((batch, target_length, units))
    ours_cell = BahdanauDecoderCell(keras.layers.GRUCell(units), attention_units=units)
    ours_decoder = BahdanauDecoder(ours_cell)
    keras_cell = AdditiveAttentionDecoderCell(units, units, units)
    keras_rnn = keras.layers.RNN(keras_cell, return_sequences=True)
    key_dense = keras.layers.Dense(units, use_bias=False)

    def ours_call(t):
        return ours_decoder(t, values, values_mask=values_mask)

    def keras_call(t):
        state = tf.zeros((batch, units))
        mask = tf.cast(values_mask, "float32")
        return keras_rnn(t, initial_state=[state, values, key_dense(values), mask])

    ours_call(targets)
    keras_call(targets)
    steps = {}
    for jit in (False, True):
        for name, call, layers in (
            ("ours", ours_call, [ours_decoder]),
            ("keras", keras_call, [keras_rnn, key_dense]),
        ):
            variables = [v for layer in layers for v in layer.trainable_variables]
            step = _train_step(call, variables, jit)
            steps[(name, jit)] = lambda step=step: [g.numpy() for g in step(targets)]
    results = _interleaved_medians(steps, repeats)
    return {key: seconds / target_length for key, seconds in results.items()}


# -- the length sweep ---------------------------------------------------------------

SWEEP_DIM, SWEEP_HEADS = 256, 8
SWEEP_LENGTHS = (256, 1024, 4096, 8192, 32768)
SWEEP_BATCH_4_UP_TO = 4096  # B=4 too at these lengths


def sweep_worker(layer_name, batch, length, jit, repeats):
    """One configuration of the sweep, in this process: prints its JSON line."""
    import resource

    x = tf.random.normal((batch, length, SWEEP_DIM), seed=0)
    key_dim = SWEEP_DIM // SWEEP_HEADS
    if layer_name == "ours":
        layer = MultiHeadSelfAttention(num_heads=SWEEP_HEADS, key_dim=key_dim)
        layer(x[:, :8])
        call = lambda t: layer(t, use_causal_mask=True)  # noqa: E731
    else:
        layer = keras.layers.MultiHeadAttention(num_heads=SWEEP_HEADS, key_dim=key_dim)
        layer(x[:, :8], x[:, :8])
        call = lambda t: layer(t, t, use_causal_mask=True)  # noqa: E731
    step = _train_step(call, layer.trainable_variables, jit)
    before = resident_kib()
    run = lambda: [g.numpy() for g in step(x)]  # noqa: E731
    start = time.perf_counter()
    run()  # traces, compiles, runs once
    first = time.perf_counter() - start
    seconds = _median_seconds(run, repeats, warmup=0) if repeats else first
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps(dict(seconds=seconds, first_seconds=first,
                          memory_mib=(peak - before) / 1024)))


def sweep(lengths, repeats, memory_limit_gib, peak):
    """Every configuration in its own process; the rows of the table."""
    configs = [(1, length) for length in lengths]
    configs += [(4, length) for length in lengths if length <= SWEEP_BATCH_4_UP_TO]
    rows = []
    for batch, length in configs:
        for jit in (False, True):
            for name in ("ours", "keras"):
                command = [sys.executable, os.path.abspath(__file__), "--sweep-worker",
                           f"{name},{batch},{length},{int(jit)}",
                           "--repeats", str(repeats if length <= 8192 else 1),
                           "--memory-limit-gib", str(memory_limit_gib)]
                done = subprocess.run(command, capture_output=True, text=True, check=False)
                row = dict(layer=name, batch=batch, length=length, jit_compile=jit)
                if done.returncode == 0:
                    row.update(json.loads(done.stdout.strip().splitlines()[-1]))
                    row["ms"] = row["seconds"] * 1e3
                    flops = attention_flops(batch, length, SWEEP_DIM, SWEEP_HEADS)
                    row["fraction_of_peak"] = flops / row["seconds"] / 1e9 / peak
                    row["status"] = "ok"
                else:
                    row["status"], row["error"] = failed_run(done)
                    row["returncode"] = done.returncode
                rows.append(row)
                _print_sweep_row(row)
    return rows


def _print_sweep_row(row):
    label = f"{row['layer']:<6} B={row['batch']} T={row['length']:<6} " \
            f"{'XLA' if row['jit_compile'] else 'eager':<6}"
    if row["status"] == "ok":
        print(f"{label}{row['ms']:>11.1f} ms{row['memory_mib']:>10.0f} MiB"
              f"{row['fraction_of_peak']:>9.1%} of peak", flush=True)
    else:
        print(f"{label}  {row['status']}: {row.get('error', '')[:120]}", flush=True)


def sweep_ratios(rows):
    """Ours against Keras's at each (B, T, XLA), and ours' memory growth
    from one length to the next (B=1, same XLA setting)."""
    found = {(r["layer"], r["batch"], r["length"], r["jit_compile"]): r for r in rows}
    ratios = []
    for (layer, batch, length, jit), row in sorted(found.items()):
        if layer != "ours" or row["status"] != "ok":
            continue
        keras_row = found.get(("keras", batch, length, jit))
        entry = dict(batch=batch, length=length, jit_compile=jit)
        if keras_row and keras_row["status"] == "ok":
            entry["time_vs_keras"] = row["seconds"] / keras_row["seconds"]
            entry["memory_vs_keras"] = row["memory_mib"] / max(keras_row["memory_mib"], 1e-9)
        else:
            entry["keras"] = keras_row["status"] if keras_row else "not run"
        ratios.append(entry)
    # Linear memory doubles with T: the growth of ours from each length to
    # the next (B=1).
    for entry in ratios:
        if entry["batch"] != 1:
            continue
        row = found[("ours", 1, entry["length"], entry["jit_compile"])]
        shorter = [r for r in rows if r["layer"] == "ours" and r["batch"] == 1
                   and r["jit_compile"] == entry["jit_compile"] and r["status"] == "ok"
                   and r["length"] < entry["length"]]
        if shorter:
            previous = max(shorter, key=lambda r: r["length"])
            entry["memory_growth_from"] = previous["length"]
            entry["memory_growth"] = row["memory_mib"] / max(previous["memory_mib"], 1e-9)
    return ratios


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", default=None, help="also write the figures here")
    parser.add_argument("--jax-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's, absl's and LiteRT's log lines")
    parser.add_argument("--sweep", action="store_true",
                        help="the length sweep (part 3) instead of parts 1 and 2")
    parser.add_argument("--lengths", default=",".join(map(str, SWEEP_LENGTHS)))
    parser.add_argument("--memory-limit-gib", type=float, default=20.0,
                        help="the most data one sweep process may hold")
    parser.add_argument("--sweep-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    batch, length, dim, heads = 16, 256, 256, 8
    if args.sweep_worker:
        limit_data(args.memory_limit_gib)
        name, batch, length, jit = args.sweep_worker.split(",")
        sweep_worker(name, int(batch), int(length), bool(int(jit)), args.repeats)
        return
    if args.sweep:
        peak = matmul_peak_gflops()
        lengths = [int(t) for t in args.lengths.split(",")]
        print(f"machine: {platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} cores, TensorFlow {tf.__version__}, Keras {keras.__version__}")
        print(f"float32 matmul peak (2048^3): {peak:.1f} GFLOP/s")
        print(f"causal self-attention, forward + backward, D={SWEEP_DIM} H={SWEEP_HEADS}; "
              "memory: growth of the process's peak RSS", flush=True)
        rows = sweep(lengths, min(args.repeats, 5), args.memory_limit_gib, peak)
        ratios = sweep_ratios(rows)
        print("\nours against Keras's layer (time and memory, below 1: ours is less)")
        for entry in ratios:
            tail = (f"time {entry['time_vs_keras']:.2f}x, memory {entry['memory_vs_keras']:.2f}x"
                    if "time_vs_keras" in entry else f"Keras: {entry['keras']}")
            if "memory_growth" in entry:
                tail += (f"; memory {entry['memory_growth']:.2f}x that at "
                         f"T={entry['memory_growth_from']}")
            print(f"  B={entry['batch']} T={entry['length']:<6} "
                  f"{'XLA' if entry['jit_compile'] else 'eager':<6}{tail}")
        emit_json(dict(
            machine=dict(processor=platform.processor() or platform.machine(),
                         cores=os.cpu_count(), tensorflow=tf.__version__,
                         keras=keras.__version__),
            matmul_peak_gflops=peak, date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            command=" ".join(["bench/attention.py", *sys.argv[1:]]),
            dim=SWEEP_DIM, heads=SWEEP_HEADS, rows=rows, ratios=ratios), args.json)
        return
    if args.jax_worker:
        jax_worker(batch, length, dim, heads, args.repeats)
        return

    peak = matmul_peak_gflops()
    flops = attention_flops(batch, length, dim, heads)
    mha = bench_multi_head(batch, length, dim, heads, args.repeats)
    rnn = bench_bahdanau(16, 32, 24, 128, args.repeats)

    print(f"machine: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, TensorFlow {tf.__version__}, Keras {keras.__version__}")
    print(f"float32 matmul peak (2048^3): {peak:.1f} GFLOP/s")
    print()
    print(f"Multi-head causal self-attention, forward + backward, "
          f"B={batch} T={length} D={dim} H={heads} ({flops / 1e9:.2f} GFLOP)")
    header = f"{'implementation':<52}{'ms':>9}{'GFLOP/s':>10}{'of peak':>9}{'ours is':>10}"
    print(header)
    print("-" * len(header))
    rows = []
    for (name, backend, jit), seconds in mha.items():
        # Each against ours on the same backend (PyTorch's against ours on
        # TensorFlow, eager).
        ours = mha[("ours", "jax" if backend == "jax" else "tensorflow", jit)]
        label = {
            "ours": "keras_attention.MultiHeadSelfAttention",
            "keras": "keras.layers.MultiHeadAttention",
            "torch": "torch.nn.MultiheadAttention",
        }[name]
        label += {"jax": " (JAX, jit)", "tensorflow": " (XLA)" if jit else ""}.get(
            backend, ""
        )
        gflops = flops / seconds / 1e9
        speedup = seconds / ours
        print(f"{label:<52}{seconds * 1e3:>9.1f}{gflops:>10.1f}{gflops / peak:>9.1%}"
              f"{speedup:>9.2f}x")
        rows.append(dict(implementation=name, backend=backend, jit_compile=jit,
                         ms=seconds * 1e3,
                         gflops=gflops, fraction_of_peak=gflops / peak,
                         ours_speedup=speedup))
    print()
    print("Bahdanau decoder (GRU 128, attention 128, S=32, T=24, B=16), "
          "forward + backward per step")
    print(f"{'implementation':<46}{'ms/step':>9}{'ours is':>10}")
    rnn_rows = []
    for (name, jit), seconds in rnn.items():
        label = {"ours": "BahdanauDecoderCell",
                 "keras": "GRUCell + AdditiveAttention"}[name]
        label += " (XLA)" if jit else ""
        speedup = seconds / rnn[("ours", jit)]
        print(f"{label:<46}{seconds * 1e3:>9.3f}{speedup:>9.2f}x")
        rnn_rows.append(dict(implementation=name, jit_compile=jit,
                             ms_per_step=seconds * 1e3, ours_speedup=speedup))
    report = dict(
        machine=dict(processor=platform.processor(), cores=os.cpu_count(),
                     tensorflow=tf.__version__, keras=keras.__version__),
        matmul_peak_gflops=peak,
        multi_head=dict(batch=batch, length=length, dim=dim, heads=heads,
                        gflop=flops / 1e9, rows=rows),
        bahdanau=dict(rows=rnn_rows),
    )
    print()
    emit_json(report, args.json)


if __name__ == "__main__":
    main()
