"""Training speed of `GraphAttention` against TF-GNN and PyTorch Geometric.

1. Throughput: forward plus backward of one layer, 8 heads x 8 units, on a
   random graph of N=50,000 nodes, E=500,000 edges and F=64 features, in
   million edges per second: our `GraphAttention` (GAT and GATv2), with and
   without XLA; TF-GNN's `GATv2Conv` with and without XLA; PyTorch
   Geometric's `GATConv` and `GATv2Conv` when installed; and, as a yardstick
   for our layer, its math in plain TensorFlow without its checks ("lean",
   `_lean_layer`). Every layer sees the same E edges (no self loops added),
   has a bias and a ReLU, and the loss is the sum of squared outputs.
   TF-GNN needs Keras 2, so it runs in a separate process
   (`TF_USE_LEGACY_KERAS=1`, packages installed once into
   `build/gnn-site`); PyTorch runs in one of its own (its thread pool
   contends with TensorFlow's in one process). The implementations are
   timed round robin, with a pause between them so that the previous
   runtime's threads stop spinning, over several rounds, keeping each one's
   best median. The cores may be shared: the load average is printed.
2. Profile: where our layer's time goes, from sub-computations of the same
   shapes timed alone (projection, gathers, segment reductions), and a lean
   GAT written in plain TensorFlow ops without the layer's checks.
3. With `--sweep`, scaling in E: forward plus backward of one layer at
   N=50,000 and E = 50,000 to 5,000,000 (`--sweep-edges`), for our GAT and
   GATv2 with and without XLA and TF-GNN's `GATv2Conv` with XLA. Each
   configuration runs in a process of its own, which reports its median
   step time and how far its peak resident memory grew over what it held
   before the first step (the graph and the weights). Time and memory
   should grow linearly in E: the table gives each row's growth over the
   previous E beside the growth of E itself.

Cora accuracy of the reference models is `bench/gat_accuracy.py`'s. Prints
tables, the machine's float32 matmul peak, and JSON (`--json`).

    python bench/gat_speed.py [--quick] [--nodes 50000] [--edges 500000]
                              [--json PATH]
    python bench/gat_speed.py --sweep [--sweep-edges 50000,...,5000000]
                              [--json bench/results/gat_scaling.json]
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

from edge_demo.quiet import quiet_process

if __name__ == "__main__":
    # Before TensorFlow is imported, so that its import-time lines hide too.
    quiet_process("--verbose" in sys.argv[1:])

from _load import (  # noqa: E402
    bench_module, emit_json, failed_run, limit_data, machine, resident_kib,
)
import numpy as np  # noqa: E402

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# TensorFlow and Keras are imported where they are used: the TF-GNN worker
# process must import TensorFlow with Keras 2 and never Keras 3.

GNN_SITE = os.path.join(_ROOT, "build", "gnn-site")
GNN_PACKAGES = [
    "tensorflow-gnn==1.0.3", "tf-keras>=2.21,<2.22", "ml_collections", "pyyaml",
]
LABELS = {
    "ours_gat": "keras_attention GraphAttention (gat)",
    "ours_gatv2": "keras_attention GraphAttention (gatv2)",
    "tfgnn_gatv2": "TF-GNN GATv2Conv",
    "pyg_gat": "PyG GATConv (eager)",
    "pyg_gatv2": "PyG GATv2Conv (eager)",
    "lean_gat": "  lean gat, the layer's math in plain TF",
    "lean_gatv2": "  lean gatv2, the layer's math in plain TF",
}


def matmul_peak_gflops():
    """bench/attention.py's measure of the machine's matmul peak."""
    return bench_module("attention").matmul_peak_gflops()


def _load():
    """Other processes take the cores from the timings: say how busy it was."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _median_seconds(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)

# -- 1. throughput -------------------------------------------------------------


def random_graph(num_nodes, num_edges, num_features, seed=0):
    """The same graph in every process: features `[N, F]`, senders, receivers."""
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((num_nodes, num_features), np.float32)
    senders = rng.integers(0, num_nodes, num_edges).astype(np.int32)
    receivers = rng.integers(0, num_nodes, num_edges).astype(np.int32)
    return features, senders, receivers


def _tf_train_step(tf, forward, variables, jit):
    @tf.function(jit_compile=jit, autograph=False)
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = forward(x)
            loss = tf.reduce_sum(y * y)
        # A gather's gradient comes as IndexedSlices: densify it, as the
        # projection's backward pass does.
        return [tf.convert_to_tensor(g) for g in tape.gradient(loss, [x] + variables)]

    return step


def our_steps(shape, heads, units):
    """`{(name, jit): step}` for our layer, GAT and GATv2, with and without XLA."""
    import tensorflow as tf

    from keras_attention import GraphAttention

    features, senders, receivers = random_graph(*shape)
    x = tf.constant(features)
    edges = tf.constant(np.stack([senders, receivers]))
    steps = {}
    for version in ("gat", "gatv2"):
        layer = GraphAttention(
            units, heads, version=version, add_self_loops=False, activation="relu"
        )
        layer(x, edges)
        for jit in (False, True):
            step = _tf_train_step(
                tf, lambda t, layer=layer: layer(t, edges),
                layer.trainable_variables, jit,
            )
            steps[(f"ours_{version}", jit)] = lambda step=step: [
                g.numpy() for g in step(x)
            ]
        # What the layer could reach: its math in plain ops (see `_lean_layer`).
        step = _tf_train_step(
            tf,
            lambda t, layer=layer: _lean_layer(
                tf, layer, t, edges[0], edges[1], len(features)
            ),
            layer.trainable_variables,
            True,
        )
        steps[(f"lean_{version}", True)] = lambda step=step: [
            g.numpy() for g in step(x)
        ]
    return steps


def _tfgnn_graph(tf, tfgnn, x, senders, receivers):
    """A `GraphTensor` of one node set (features `x`) and one edge set."""
    return tfgnn.GraphTensor.from_pieces(
        node_sets={
            "nodes": tfgnn.NodeSet.from_fields(
                sizes=tf.shape(x)[:1], features={tfgnn.HIDDEN_STATE: x}
            )
        },
        edge_sets={
            "edges": tfgnn.EdgeSet.from_fields(
                sizes=tf.constant([len(senders)]),
                adjacency=tfgnn.Adjacency.from_indices(
                    source=("nodes", tf.constant(senders)),
                    target=("nodes", tf.constant(receivers)),
                ),
            )
        },
    )


def tfgnn_steps(shape, heads, units):
    """TF-GNN's `GATv2Conv` steps; run in a process with TF_USE_LEGACY_KERAS=1."""
    import tensorflow as tf
    import tensorflow_gnn as tfgnn
    from tensorflow_gnn.models import gat_v2

    features, senders, receivers = random_graph(*shape)
    x = tf.constant(features)
    graph = _tfgnn_graph(tf, tfgnn, x, senders, receivers)
    conv = gat_v2.GATv2Conv(
        num_heads=heads, per_head_channels=units, receiver_tag=tfgnn.TARGET
    )  # bias and ReLU by default
    conv(graph, edge_set_name="edges")

    def forward(t):
        replaced = graph.replace_features(node_sets={"nodes": {tfgnn.HIDDEN_STATE: t}})
        return conv(replaced, edge_set_name="edges")

    steps = {}
    for jit in (False, True):
        step = _tf_train_step(tf, forward, conv.trainable_variables, jit)
        steps[("tfgnn_gatv2", jit)] = lambda step=step: [g.numpy() for g in step(x)]
    return steps


def pyg_steps(shape, heads, units):
    """PyTorch Geometric's `GATConv` and `GATv2Conv` steps (eager PyTorch)."""
    import torch
    from torch_geometric.nn import GATConv, GATv2Conv

    torch.manual_seed(0)
    features, senders, receivers = random_graph(*shape)
    x = torch.tensor(features, requires_grad=True)
    edge_index = torch.tensor(np.stack([senders, receivers]), dtype=torch.long)
    steps = {}
    for name, cls in (("pyg_gat", GATConv), ("pyg_gatv2", GATv2Conv)):
        conv = cls(features.shape[1], units, heads=heads, add_self_loops=False)

        def step(conv=conv):
            conv.zero_grad(set_to_none=True)
            x.grad = None
            y = torch.relu(conv(x, edge_index))
            (y * y).sum().backward()

        steps[(name, False)] = step
    return steps


def worker(kind, shape, heads, units, warmup):
    """Serves timings over stdin/stdout: answers `time NAME JIT REPEATS`
    with the median seconds, as one JSON line, until `quit`."""
    try:
        build = {"tfgnn": tfgnn_steps, "pyg": pyg_steps}[kind]
        steps = build(shape, heads, units)
    except ImportError as error:
        print(json.dumps({"error": f"not installed ({error})"}), flush=True)
        return
    for step in steps.values():
        for _ in range(warmup):
            step()
    print(json.dumps({"ready": [[n, j] for n, j in steps]}), flush=True)
    for line in sys.stdin:
        command = line.split()
        if not command or command[0] == "quit":
            break
        name, jit, repeats = command[1], command[2] == "1", int(command[3])
        seconds = _median_seconds(steps[(name, jit)], repeats)
        print(json.dumps({"median": seconds}), flush=True)


def ensure_gnn_site():
    """`build/gnn-site` with TF-GNN and Keras 2, installed once; None if it
    cannot be installed (no network, no mirror)."""
    if os.path.isdir(os.path.join(GNN_SITE, "tensorflow_gnn")):
        return GNN_SITE
    print(f"installing {' '.join(GNN_PACKAGES)} into {GNN_SITE} ...", flush=True)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--target", GNN_SITE,
         "--no-deps", *GNN_PACKAGES],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        print(result.stderr[-2000:])
        return None
    return GNN_SITE


class Worker:
    """A benchmark worker process (this file with `--worker KIND`)."""

    def __init__(self, kind, args, env=None):
        self.kind = kind
        self.log = open(os.path.join(_ROOT, "build", f"bench-gat-{kind}.log"), "w")
        command = [
            sys.executable, os.path.abspath(__file__), "--worker", kind,
            "--nodes", str(args.nodes), "--edges", str(args.edges),
            "--features", str(args.features), "--warmup", str(args.warmup),
        ]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.log, text=True, env={**os.environ, **(env or {})},
        )
        self.names, self.error = [], None

    def wait_ready(self):
        line = self.process.stdout.readline()
        if not line:
            self.error = f"failed (see {self.log.name})"
            return
        message = json.loads(line)
        self.error = message.get("error")
        self.names = [(n, bool(j)) for n, j in message.get("ready", [])]

    def median(self, name, jit, repeats):
        self.process.stdin.write(f"time {name} {int(jit)} {repeats}\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())["median"]

    def close(self):
        if self.process.poll() is None:
            try:
                self.process.stdin.write("quit\n")
                self.process.stdin.flush()
            except BrokenPipeError:
                pass
            self.process.wait(timeout=60)
        self.log.close()


def bench_throughput(args):
    """Best median seconds per step of every implementation, and the rows
    that could not run with why."""
    workers = []
    missing = {}
    site = ensure_gnn_site()
    if site is None:
        missing["tfgnn_gatv2"] = "not installed (pip into build/gnn-site failed)"
    else:
        path = os.pathsep.join(
            [site] + [p for p in [os.environ.get("PYTHONPATH")] if p]
        )
        workers.append(
            Worker("tfgnn", args, env={"TF_USE_LEGACY_KERAS": "1", "PYTHONPATH": path})
        )
    workers.append(Worker("pyg", args))
    shape = (args.nodes, args.edges, args.features)
    ours = our_steps(shape, args.heads, args.units)
    for step in ours.values():
        for _ in range(args.warmup):
            step()
    timers = {key: (lambda key=key: _median_seconds(ours[key], args.repeats))
              for key in ours}
    for work in workers:
        work.wait_ready()
        if work.error:
            for name in {"tfgnn": ["tfgnn_gatv2"], "pyg": ["pyg_gat", "pyg_gatv2"]}[
                work.kind
            ]:
                missing[name] = work.error
        for key in work.names:
            timers[key] = lambda key=key, work=work: work.median(*key, args.repeats)
    best = {}
    try:
        for _ in range(args.rounds):
            for key, timer in timers.items():
                time.sleep(0.5)  # the last runtime's spinning threads go idle
                seconds = timer()
                best[key] = min(best.get(key, seconds), seconds)
    finally:
        for work in workers:
            work.close()
    return best, missing


def print_throughput(best, missing, args, peak):
    print()
    print(f"Forward + backward of one layer, N={args.nodes:,} E={args.edges:,} "
          f"F={args.features} H={args.heads} U={args.units}, "
          f"best of {args.rounds} rounds of median of {args.repeats}")
    print(f"float32 matmul peak (2048^3): {peak:.1f} GFLOP/s")
    reference = best.get(("tfgnn_gatv2", True))
    header = (f"{'implementation':<42}{'XLA':>5}{'ms':>10}{'M edges/s':>11}"
              f"{'vs TF-GNN XLA':>15}")
    print(header)
    print("-" * len(header))
    rows = []
    for (name, jit), seconds in sorted(best.items(), key=lambda kv: kv[1]):
        rate = args.edges / seconds / 1e6
        ratio = reference / seconds if reference else None
        print(f"{LABELS[name]:<42}{'yes' if jit else 'no':>5}{seconds * 1e3:>10.1f}"
              f"{rate:>11.2f}{'' if ratio is None else f'{ratio:.2f}x':>15}")
        rows.append(dict(implementation=name, jit_compile=jit, ms=seconds * 1e3,
                         million_edges_per_second=rate, vs_tfgnn_xla=ratio))
    for name, why in missing.items():
        print(f"{LABELS[name]:<42}{'':>5}{why:>10}")
        rows.append(dict(implementation=name, missing=why))
    return rows


# -- 2. profile ----------------------------------------------------------------


def _segment_softmax(tf, scores, receivers, num_nodes):
    maxima = tf.math.unsorted_segment_max(scores, receivers, num_nodes)
    numerators = tf.exp(scores - tf.stop_gradient(tf.gather(maxima, receivers)))
    sums = tf.math.unsorted_segment_sum(numerators, receivers, num_nodes)
    return numerators / tf.gather(sums, receivers)  # [E, H]


def _lean_layer(tf, layer, x, senders, receivers, num_nodes):
    """`layer`'s output (a `GraphAttention` without self loops, ReLU) in
    plain TensorFlow: the same math without its index guard, kept-edge
    weights, NaN poisoning, and (GATv2) without gathering the sender
    projections twice."""
    heads, units = layer.num_heads, layer.units
    projected = tf.reshape(tf.matmul(x, layer.kernel), (-1, heads, units))  # [N, H, U]
    values = tf.gather(projected, senders)  # [E, H, U]
    if layer.version == "gat":
        sender_scores = tf.reduce_sum(projected * layer.sender_attention_kernel, -1)
        receiver_scores = tf.reduce_sum(projected * layer.receiver_attention_kernel, -1)
        scores = tf.nn.leaky_relu(
            tf.gather(sender_scores, senders) + tf.gather(receiver_scores, receivers),
            layer.negative_slope,
        )  # [E, H]
    else:
        queries = tf.reshape(tf.matmul(x, layer.receiver_kernel), (-1, heads, units))
        hidden = tf.nn.leaky_relu(
            values + tf.gather(queries, receivers), layer.negative_slope
        )  # [E, H, U]
        scores = tf.reduce_sum(hidden * layer.attention_kernel, -1)  # [E, H]
    coefficients = _segment_softmax(tf, scores, receivers, num_nodes)
    pooled = tf.math.unsorted_segment_sum(
        values * coefficients[:, :, None], receivers, num_nodes
    )  # [N, H, U]
    return tf.nn.relu(tf.reshape(pooled, (-1, heads * units)) + layer.bias)


def bench_profile(args):
    """Milliseconds of our layer and of its parts, forward and forward +
    backward, with and without XLA: `{part: {mode: ms}}`."""
    import tensorflow as tf

    from keras_attention import GraphAttention

    num_nodes, num_edges, width = args.nodes, args.edges, args.heads * args.units
    features, senders, receivers = random_graph(num_nodes, num_edges, args.features)
    x = tf.constant(features)
    senders, receivers = tf.constant(senders), tf.constant(receivers)
    edges = tf.stack([senders, receivers])
    rng = np.random.default_rng(1)
    h = tf.constant(rng.standard_normal((num_nodes, width), np.float32))
    n_h = tf.constant(rng.standard_normal((num_nodes, args.heads), np.float32))
    e_h = tf.constant(rng.standard_normal((num_edges, args.heads), np.float32))
    e_hu = tf.constant(rng.standard_normal((num_edges, width), np.float32))
    layers = {}
    for version in ("gat", "gatv2"):
        layers[version] = GraphAttention(
            args.units, args.heads, version=version, add_self_loops=False,
            activation="relu",
        )
        layers[version](x, edges)
    kernel = layers["gat"].kernel
    parts = {}
    for version, layer in layers.items():
        # name: (function of one float tensor, its input, variables)
        parts[f"GraphAttention({version}), whole layer"] = (
            lambda t, layer=layer: layer(t, edges), x, layer.trainable_variables
        )
        parts[f"lean {version} in plain TF ops"] = (
            lambda t, layer=layer: _lean_layer(
                tf, layer, t, senders, receivers, num_nodes
            ),
            x,
            layer.trainable_variables,
        )
    parts.update({
        "projection x @ W [N,F]x[F,HU]": (lambda t: tf.matmul(t, kernel), x, [kernel]),
        "gather [E,HU] rows (messages)": (lambda t: tf.gather(t, senders), h, []),
        "gather [E,H] rows (scores)": (lambda t: tf.gather(t, senders), n_h, []),
        "segment_max [E,H] -> [N,H]": (
            lambda t: tf.math.unsorted_segment_max(t, receivers, num_nodes), e_h, []),
        "segment_sum [E,H] -> [N,H]": (
            lambda t: tf.math.unsorted_segment_sum(t, receivers, num_nodes), e_h, []),
        "segment_sum [E,HU] -> [N,HU]": (
            lambda t: tf.math.unsorted_segment_sum(t, receivers, num_nodes), e_hu, []),
        "elementwise [E,H]: leaky, exp, div": (
            lambda t: tf.exp(tf.nn.leaky_relu(t, 0.2)) / (1.0 + tf.abs(t)), e_h, []),
    })
    runs = {}
    for name, (fn, value, variables) in parts.items():
        for jit in (False, True):
            forward = tf.function(fn, jit_compile=jit, autograph=False)
            # segment_max has no gradient worth timing: the layer stops it.
            train = None if "segment_max" in name else _tf_train_step(
                tf, fn, variables, jit
            )
            for mode, step in (("forward", forward), ("forward+backward", train)):
                if step is None:
                    continue

                def run(step=step, mode=mode, value=value):
                    outputs = step(value)
                    if mode == "forward":  # one row waits for the result; all
                        return outputs[:1].numpy()  # of [E, *] would be a copy
                    return [t.numpy() for t in outputs]

                for _ in range(args.warmup):
                    run()
                runs[(name, f"{mode}{' XLA' if jit else ''}")] = run
    # Round robin, as for the throughput, keeping each part's best median.
    best = {}
    for _ in range(args.rounds):
        for key, run in runs.items():
            seconds = _median_seconds(run, args.repeats)
            best[key] = min(best.get(key, seconds), seconds)
    results = {name: {} for name in parts}
    for (name, mode), seconds in best.items():
        results[name][mode] = seconds * 1e3
    return results


def print_profile(results, args):
    print()
    print(f"Where GraphAttention's time goes: parts of the same shapes timed "
          f"alone, ms (N={args.nodes:,} E={args.edges:,} HU={args.heads * args.units})")
    modes = ["forward", "forward+backward", "forward XLA", "forward+backward XLA"]
    header = f"{'part':<38}" + "".join(f"{m:>22}" for m in modes)
    print(header)
    print("-" * len(header))
    for name, row in results.items():
        print(f"{name:<38}" + "".join(
            f"{row[m]:>22.1f}" if m in row else f"{'-':>22}" for m in modes))


# -- 3. scaling in E ------------------------------------------------------------

SWEEP_EDGES = (50_000, 150_000, 500_000, 1_500_000, 5_000_000)
SWEEP_CONFIGS = (  # (implementation, XLA)
    ("ours_gat", True), ("ours_gatv2", True), ("tfgnn_gatv2", True),
    ("ours_gat", False), ("ours_gatv2", False),
)


def sweep_worker(name, shape, heads, units, jit, repeats):
    """One configuration of the sweep, in this process: prints its JSON line.

    The layer is built on a two-node graph, so that nothing of the full
    graph's size runs before the memory baseline is read.
    """
    import resource

    import tensorflow as tf

    features, senders, receivers = random_graph(*shape)
    x = tf.constant(features)
    small_x, small_edges = x[:2], np.array([[0], [1]], np.int32)
    if name.startswith("ours_"):
        from keras_attention import GraphAttention

        layer = GraphAttention(
            units, heads, version=name[len("ours_"):], add_self_loops=False,
            activation="relu",
        )
        layer(small_x, tf.constant(small_edges))
        edges = tf.constant(np.stack([senders, receivers]))
        forward, variables = (lambda t: layer(t, edges)), layer.trainable_variables
    else:
        import tensorflow_gnn as tfgnn
        from tensorflow_gnn.models import gat_v2

        conv = gat_v2.GATv2Conv(
            num_heads=heads, per_head_channels=units, receiver_tag=tfgnn.TARGET
        )
        conv(_tfgnn_graph(tf, tfgnn, small_x, *small_edges), edge_set_name="edges")
        graph = _tfgnn_graph(tf, tfgnn, x, senders, receivers)

        def forward(t):
            replaced = graph.replace_features(
                node_sets={"nodes": {tfgnn.HIDDEN_STATE: t}}
            )
            return conv(replaced, edge_set_name="edges")

        variables = conv.trainable_variables
    step = _tf_train_step(tf, forward, variables, jit)
    before = resident_kib()
    run = lambda: [g.numpy() for g in step(x)]  # noqa: E731
    start = time.perf_counter()
    run()  # traces, compiles, runs once
    first = time.perf_counter() - start
    seconds = _median_seconds(run, repeats)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps(dict(seconds=seconds, first_seconds=first,
                          memory_mib=(peak - before) / 1024)))


def sweep(args, edge_counts):
    """Every configuration in its own process; the rows of the table."""
    site = ensure_gnn_site()
    rows = []
    for name, jit in SWEEP_CONFIGS:
        for num_edges in edge_counts:
            row = dict(implementation=name, jit_compile=jit, nodes=args.nodes,
                       edges=num_edges)
            env = dict(os.environ)
            if name.startswith("tfgnn"):
                if site is None:
                    row.update(status="not installed (pip into build/gnn-site failed)")
                    rows.append(row)
                    continue
                env["TF_USE_LEGACY_KERAS"] = "1"
                env["PYTHONPATH"] = os.pathsep.join(
                    [site] + [p for p in [os.environ.get("PYTHONPATH")] if p]
                )
            command = [
                sys.executable, os.path.abspath(__file__), "--sweep-worker",
                f"{name},{int(jit)}", "--nodes", str(args.nodes),
                "--edges", str(num_edges), "--features", str(args.features),
                "--heads", str(args.heads), "--units", str(args.units),
                "--repeats", str(args.repeats if num_edges <= 500_000 else 3),
                "--memory-limit-gib", str(args.memory_limit_gib),
            ]
            done = subprocess.run(command, capture_output=True, text=True,
                                  check=False, env=env)
            if done.returncode == 0:
                row.update(json.loads(done.stdout.strip().splitlines()[-1]))
                row["ms"] = row["seconds"] * 1e3
                row["ns_per_edge"] = row["seconds"] / num_edges * 1e9
                row["status"] = "ok"
            else:
                row["status"], row["error"] = failed_run(done)
            _add_growth(row, rows)
            rows.append(row)
            _print_sweep_row(row)
    return rows


def _add_growth(row, rows):
    """The row's time and memory over those of the previous E of the same
    implementation and XLA setting, beside E's own growth."""
    if row["status"] != "ok":
        return
    previous = [r for r in rows if r["implementation"] == row["implementation"]
                and r["jit_compile"] == row["jit_compile"] and r["status"] == "ok"]
    if not previous:
        return
    last = previous[-1]
    row["edges_growth"] = row["edges"] / last["edges"]
    row["time_growth"] = row["seconds"] / last["seconds"]
    row["memory_growth"] = row["memory_mib"] / max(last["memory_mib"], 1e-9)


def _print_sweep_row(row):
    label = (f"{LABELS[row['implementation']].strip():<40}"
             f"{'XLA' if row['jit_compile'] else 'eager':<6}E={row['edges']:<10,}")
    if row["status"] != "ok":
        print(f"{label}  {row['status']}: {row.get('error', '')[:120]}", flush=True)
        return
    growth = ""
    if "edges_growth" in row:
        growth = (f"   x{row['edges_growth']:.1f} edges: time x{row['time_growth']:.2f}, "
                  f"memory x{row['memory_growth']:.2f}")
    print(f"{label}{row['ms']:>10.1f} ms{row['ns_per_edge']:>8.0f} ns/edge"
          f"{row['memory_mib']:>9.0f} MiB{growth}", flush=True)


# -- main ----------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a 5x smaller graph, fewer rounds")
    parser.add_argument("--nodes", type=int, default=50_000)
    parser.add_argument("--edges", type=int, default=500_000)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--units", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--json", default=None, help="also write the figures here")
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's, absl's and LiteRT's log lines")
    parser.add_argument("--worker", choices=["tfgnn", "pyg"], help=argparse.SUPPRESS)
    parser.add_argument("--sweep", action="store_true",
                        help="the scaling sweep in E (part 3) instead of parts 1 and 2")
    parser.add_argument("--sweep-edges", default=",".join(map(str, SWEEP_EDGES)))
    parser.add_argument("--memory-limit-gib", type=float, default=20.0,
                        help="the most data one sweep process may hold")
    parser.add_argument("--sweep-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sweep_worker:
        limit_data(args.memory_limit_gib)
        name, jit = args.sweep_worker.split(",")
        shape = (args.nodes, args.edges, args.features)
        return sweep_worker(name, shape, args.heads, args.units, bool(int(jit)),
                            args.repeats)
    if args.worker:
        shape = (args.nodes, args.edges, args.features)
        return worker(args.worker, shape, args.heads, args.units, args.warmup)
    if args.quick:
        args.nodes, args.edges = args.nodes // 5, args.edges // 5
        args.rounds, args.repeats = 2, 3

    import keras
    import tensorflow as tf

    os.makedirs(os.path.join(_ROOT, "build"), exist_ok=True)
    peak = matmul_peak_gflops()
    print(f"machine: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, TensorFlow {tf.__version__}, "
          f"Keras {keras.__version__}")
    print(f"float32 matmul peak (2048^3): {peak:.1f} GFLOP/s")
    print(f"load average (1, 5, 15 min) at the start: {_load()}")
    if args.sweep:
        edge_counts = [int(e) for e in args.sweep_edges.split(",")]
        if args.quick:
            edge_counts = [e // 5 for e in edge_counts[:3]]
        print(f"forward + backward of one layer, N={args.nodes:,} F={args.features} "
              f"H={args.heads} U={args.units}; memory: growth of the process's "
              "peak RSS", flush=True)
        rows = sweep(args, edge_counts)
        print(f"load average (1, 5, 15 min) at the end: {_load()}")
        emit_json(dict(
            machine=machine(), matmul_peak_gflops=peak,
            date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            command=" ".join(["bench/gat_speed.py", *sys.argv[1:]]),
            nodes=args.nodes, features=args.features, heads=args.heads,
            units=args.units, rows=rows, load_average_at_end=os.getloadavg(),
        ), args.json)
        return
    best, missing = bench_throughput(args)
    rows = print_throughput(best, missing, args, peak)
    profile = bench_profile(args)
    print_profile(profile, args)
    report = dict(
        machine=dict(processor=platform.processor(), cores=os.cpu_count(),
                     tensorflow=tf.__version__, keras=keras.__version__),
        matmul_peak_gflops=peak,
        throughput=dict(
            nodes=args.nodes, edges=args.edges, features=args.features,
            heads=args.heads, units=args.units, rounds=args.rounds,
            repeats=args.repeats, rows=rows,
        ),
        profile_ms=profile,
    )
    print(f"load average (1, 5, 15 min) at the end: {_load()}")
    report["load_average_at_end"] = os.getloadavg()
    print()
    emit_json(report, args.json)


if __name__ == "__main__":
    main()
