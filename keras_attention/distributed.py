"""Training on more than one device or machine, with `tf.distribute`.

Two set-ups, as TensorFlow 2.21 and Keras 3.15 allow them:

- **One machine, several accelerators**: build and compile the model under
  `tf.distribute.MirroredStrategy()` and call `model.fit` as usual
  (`mirrored_strategy` makes one, also over logical CPU devices for tests).
  Keras splits each batch across the replicas and sums their gradients.
- **Several machines**: `model.fit` under `MultiWorkerMirroredStrategy`
  fails in Keras 3 (keras-team/keras issue 20585: a PerReplica value reaches
  a tensor conversion), so `DistributedTrainer` runs its own step:
  `strategy.run` over a distributed `tf.data` pipeline, each replica's loss
  divided by the global number of weighted targets, the Keras model and
  optimizer unchanged (the optimizer all-reduces the gradients). The
  cluster comes from `TF_CONFIG`; progress and metrics print as `fit`
  prints them; the forward and backward pass is XLA-compiled where the
  device allows (on CPU, XLA cannot compile collectives, so the all-reduce
  stays outside the compiled function); `tf.train.CheckpointManager` saves
  the model, the optimizer and the step, and a restarted job resumes from
  the last checkpoint at the step after it, on the same batches.

The trainer takes a function that builds the compiled model (called under
the strategy's scope) and a function that gives the `tf.data` pipeline of
*global* batches; every worker reads the same global batches and keeps its
replicas' rows, so two workers compute exactly what one worker computes on
the same global batch, and a resumed run skips the batches already trained
on.

Run the same script on every machine with its own `TF_CONFIG`, e.g. for two
GPU machines (docs/distributed.md):

    TF_CONFIG='{"cluster": {"worker": ["host0:12345", "host1:12345"]},
                "task": {"type": "worker", "index": 0}}' python train.py

TensorFlow only: `tf.distribute` needs the TensorFlow backend of Keras, so
`DistributedTrainer` and `mirrored_strategy` raise a `RuntimeError` on JAX
or PyTorch, saying what to use there (`keras.distribution`). Importing this
module does not import TensorFlow; the functions do, when called.
"""

import json
import os
import tempfile

import keras
import numpy as np

from keras_attention._tensorflow import import_tensorflow, require_tensorflow_backend

# What to use on another backend, in the error that says this module cannot.
_ON_ANOTHER_BACKEND = (
    "On JAX, keras.distribution (DataParallel, ModelParallel) spreads "
    "model.fit over devices; or run this program with KERAS_BACKEND=tensorflow."
)


def _tensorflow():
    return import_tensorflow("keras_attention.distributed (tf.distribute)")


def _tensorflow_backend(what):
    return require_tensorflow_backend(what, _ON_ANOTHER_BACKEND)


def use_logical_cpus(count):
    """Split the CPU into `count` logical devices (before TensorFlow starts).

    For trying `MirroredStrategy` without accelerators. Must run before any
    TensorFlow operation; raises `RuntimeError` otherwise.
    """
    tf = _tensorflow()
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
    )
    return tf.config.list_logical_devices("CPU")


def mirrored_strategy(devices=None):
    """`tf.distribute.MirroredStrategy` over `devices` (default: all GPUs, else
    every logical CPU), with a cross-device reduction that works on CPUs.

    Needs the TensorFlow backend of Keras (a `RuntimeError` says so)."""
    tf = _tensorflow_backend("mirrored_strategy (tf.distribute)")
    if devices is None:
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    cross_device = None
    if not any("GPU" in d.upper() for d in devices):
        cross_device = tf.distribute.ReductionToOneDevice()
    return tf.distribute.MirroredStrategy(devices, cross_device_ops=cross_device)


class CheckpointError(ValueError):
    """A checkpoint that cannot be restored: truncated, corrupt, or named by
    the `checkpoint` file but missing. The message names the files; they
    are left in place."""


def _tf_config_error(expected, received):
    return ValueError(f"TF_CONFIG{expected}, received {received}")


def _check_address(job, index, address):
    """`host:port`, the port an int in [1, 65535] (`[::1]:port` for IPv6)."""
    host, _, port = address.rpartition(":") if isinstance(address, str) else ("", "", "")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise _tf_config_error(
            f"'s cluster.{job}[{index}] must be an address 'host:port' with a port "
            "in [1, 65535]",
            f"cluster.{job}[{index}]={address!r}",
        )


def read_tf_config():
    """`TF_CONFIG` parsed and checked, or None when it is unset or empty.

    Checked before any strategy reads it, so that a malformed one gets an
    error naming TF_CONFIG, what was expected and what came, rather than a
    bare `JSONDecodeError` or `KeyError` from inside TensorFlow: it must be
    a JSON object with `cluster` (each job a non-empty list of `host:port`
    addresses) and `task` (`type`, a job of the cluster, and `index`, an
    int in `[0, len(cluster[type]))`).

    Raises:
        ValueError: naming TF_CONFIG and the entry that is wrong.
    """
    raw = os.environ.get("TF_CONFIG")
    if raw is None or not raw.strip():
        return None
    try:
        config = json.loads(raw)
    except ValueError as error:
        raise _tf_config_error(
            " must be JSON with cluster.worker (a list of host:port) and task.index",
            f"TF_CONFIG={raw!r}: {error}",
        ) from error
    if not isinstance(config, dict):
        raise _tf_config_error(
            " must be a JSON object with 'cluster' and 'task'",
            f"a JSON {type(config).__name__}: TF_CONFIG={raw!r}",
        )
    for key in ("cluster", "task"):
        if not isinstance(config.get(key), dict) or not config[key]:
            received = (
                f"no '{key}' (keys {sorted(config)})" if key not in config
                else f"{key}={config[key]!r}"
            )
            raise _tf_config_error(
                f" must have '{key}', a non-empty JSON object", received
            )
    cluster, task = config["cluster"], config["task"]
    for job, addresses in cluster.items():
        if not isinstance(addresses, list) or not addresses:
            raise _tf_config_error(
                f"'s cluster.{job} must be a non-empty list of 'host:port' addresses",
                f"cluster.{job}={addresses!r}",
            )
        for index, address in enumerate(addresses):
            _check_address(job, index, address)
    for key in ("type", "index"):
        if key not in task:
            raise _tf_config_error(
                f"'s task must have '{key}'", f"task={task!r}"
            )
    if task["type"] not in cluster:
        raise _tf_config_error(
            f"'s task.type must be a job of its cluster, one of {sorted(cluster)}",
            f"task.type={task['type']!r}",
        )
    index = task["index"]
    if isinstance(index, str) and index.isdigit():
        index = int(index)  # TensorFlow takes "1" as 1
    if not isinstance(index, int) or isinstance(index, bool):
        raise _tf_config_error(
            "'s task.index must be an int", f"task.index={task['index']!r}"
        )
    size = len(cluster[task["type"]])
    if not 0 <= index < size:
        raise _tf_config_error(
            f"'s task must have an index in [0, {size}) for the {size} "
            f"address(es) of cluster.{task['type']}",
            f"task.index={index}",
        )
    return {**config, "task": {**task, "index": index}}


def cluster_spec():
    """`(num_workers, worker_index)` from `TF_CONFIG` (`(1, 0)` without one).

    `TF_CONFIG` is checked by `read_tf_config`; its task must be a worker
    (the trainer's chief is worker 0).
    """
    config = read_tf_config()
    if config is None:
        return 1, 0
    task, workers = config["task"], config["cluster"].get("worker", [])
    if task["type"] != "worker":
        raise ValueError(
            f"TF_CONFIG's task must be a worker with an index in [0, {len(workers)}) "
            "(DistributedTrainer's chief is worker 0), received "
            f"task.type={task['type']!r}"
        )
    return len(workers), task["index"]


def _split_rows(batch, parts, part):
    """Rows `part * n : (part + 1) * n` of every tensor in `batch`, `n = B / parts`."""
    tf = _tensorflow()

    def cut(tensor):
        rows = tf.shape(tensor)[0]
        # Unequal parts would drop rows silently: refuse them.
        tf.debugging.assert_equal(
            rows % parts, 0,
            message=f"every global batch must divide into {parts} equal parts "
            "(one per replica); give dataset_fn batches of a multiple of that size",
        )
        size = rows // parts
        return tensor[part * size : (part + 1) * size]

    return tf.nest.map_structure(cut, batch)


class DistributedTrainer:
    """A training loop for `MultiWorkerMirroredStrategy` (or any strategy).

    Needs the TensorFlow backend of Keras: on another, the constructor raises
    a `RuntimeError` naming it and what to use there instead.

    Args:
        build_model: called with no arguments under the strategy's scope;
            returns a compiled Keras model (its optimizer, and its loss,
            which must accept `sample_weight` and give per-target values
            with `reduction=None` -- every Keras loss and ours do).
        dataset_fn: `dataset_fn(epoch)` -> a `tf.data.Dataset` of *global*
            batches `(inputs, targets, sample_weights)` (or `(inputs,
            targets)`), the same on every worker and every run for a given
            epoch, each global batch divisible by the number of replicas.
        steps_per_epoch: batches per epoch.
        checkpoint_dir: where the chief keeps checkpoints (every
            `checkpoint_every` steps and at each epoch's end); other workers
            write theirs to a temporary folder, as MultiWorkerMirroredStrategy
            requires every worker to save. A checkpoint there that cannot be
            restored (truncated, corrupt, or named but missing) raises a
            `CheckpointError` naming its files, which are left in place.
        strategy: default `MultiWorkerMirroredStrategy()` (reads `TF_CONFIG`,
            which `read_tf_config` checks first).
        jit_compile: compile the forward and backward pass with XLA; None:
            on GPUs and TPUs only (XLA is used per replica, not for the
            collectives).
        checkpoint_every: steps between checkpoints.
        max_to_keep: checkpoints the chief keeps.
    """

    def __init__(self, build_model, dataset_fn, steps_per_epoch, checkpoint_dir=None,
                 strategy=None, jit_compile=None, checkpoint_every=50, max_to_keep=3):
        tf = _tensorflow_backend("DistributedTrainer (tf.distribute)")
        for name, value in (("steps_per_epoch", steps_per_epoch),
                            ("checkpoint_every", checkpoint_every)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(
                    f"{name} must be a positive int, received {name}={value!r}"
                )
        if max_to_keep is not None and (
            not isinstance(max_to_keep, int) or isinstance(max_to_keep, bool)
            or max_to_keep < 1
        ):
            raise ValueError(
                "max_to_keep must be a positive int or None (keep all), received "
                f"max_to_keep={max_to_keep!r}"
            )
        for name, value in (("build_model", build_model), ("dataset_fn", dataset_fn)):
            if not callable(value):
                raise TypeError(
                    f"{name} must be a function, received {name}={value!r}"
                )
        # TF_CONFIG checked before the strategy reads it (a clear error
        # rather than TensorFlow's JSONDecodeError).
        self.num_workers, self.worker_index = cluster_spec()
        self.strategy = strategy or tf.distribute.MultiWorkerMirroredStrategy()
        self.dataset_fn = dataset_fn
        self.steps_per_epoch = steps_per_epoch
        self.checkpoint_every = checkpoint_every
        with self.strategy.scope():
            self.model = build_model()
            if not getattr(self.model, "compiled", False):
                raise ValueError(
                    "build_model must return a compiled Keras model, received "
                    f"{type(self.model).__name__} {getattr(self.model, 'name', '')!r}"
                    " (not compiled)"
                )
            self.optimizer = self.model.optimizer
            loss = self.model.loss
            if isinstance(loss, keras.losses.Loss):
                loss = loss.call  # per target, unreduced
            elif not callable(loss):
                loss = keras.losses.get(loss)  # a name: the per-target function
            self._per_target_loss = loss
            self.model.optimizer.build(self.model.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        if jit_compile is None:
            jit_compile = bool(
                tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU")
            )
        self.jit_compile = jit_compile
        self._checkpoint = tf.train.Checkpoint(
            model=self.model, optimizer=self.optimizer, step=self.step
        )
        self.manager = None
        if checkpoint_dir is not None:
            # Restored first: the manager reads the same `checkpoint` file,
            # and must not start over a directory whose checkpoints are bad.
            self._restore(checkpoint_dir)
            directory = checkpoint_dir
            if self.worker_index != 0:  # only the chief's checkpoints count
                directory = os.path.join(
                    tempfile.gettempdir(), f"keras_attention_worker_{self.worker_index}",
                    os.path.basename(os.path.abspath(checkpoint_dir)),
                )
            self.manager = tf.train.CheckpointManager(
                self._checkpoint, directory, max_to_keep=max_to_keep
            )
        self._step_fn = None

    def _restore(self, checkpoint_dir):
        """Every worker restores the chief's latest checkpoint, or raises a
        `CheckpointError` naming the files when it cannot (they stay)."""
        tf = _tensorflow()
        state = os.path.join(checkpoint_dir, "checkpoint")
        try:
            latest = tf.train.latest_checkpoint(checkpoint_dir)
        except Exception as error:  # UnicodeDecodeError, text_format.ParseError
            raise CheckpointError(
                f"checkpoint state file {state} is corrupt: "
                f"{type(error).__name__}: {error}. It is left in place: repair "
                "or remove it (or give another checkpoint_dir)"
            ) from error
        if latest is None:
            saved = sorted(tf.io.gfile.glob(os.path.join(checkpoint_dir, "*.index")))
            if saved:
                # Starting afresh would write new checkpoints over these.
                raise CheckpointError(
                    f"checkpoint_dir={checkpoint_dir!r} holds checkpoints "
                    f"({', '.join(os.path.basename(p) for p in saved)}) but no "
                    f"valid state file {state} naming the latest, or the files "
                    "it names are missing; restore it or give another checkpoint_dir"
                )
            return
        try:
            self._checkpoint.restore(latest).expect_partial()
        except (tf.errors.OpError, IndexError) as error:
            # IndexError: TensorFlow's "Read less bytes than requested".
            files = sorted(tf.io.gfile.glob(latest + ".*"))
            sizes = ", ".join(
                f"{p} ({tf.io.gfile.stat(p).length} bytes)" for p in files
            )
            state = os.path.join(os.path.dirname(latest), "checkpoint")
            raise CheckpointError(
                f"checkpoint {latest} is truncated or corrupt and cannot be "
                f"restored ({type(error).__name__}: {error}); its files: {sizes}. "
                f"They are left in place: to resume from an earlier checkpoint, "
                f"name it in {state}; or give another checkpoint_dir"
            ) from error

    # -- the step ----------------------------------------------------------------

    def _compute(self, inputs, targets, weights, total_weight):
        """Loss and gradients of one replica's rows, normalized globally (XLA)."""
        tf = _tensorflow()
        with tf.GradientTape() as tape:
            predictions = self.model(inputs, training=True)
            per_target = self._per_target_loss(targets, predictions)
            per_target = tf.cast(per_target, tf.float32)
            weights = tf.cast(tf.reshape(weights, tf.shape(per_target)), tf.float32)
            loss = tf.reduce_sum(per_target * weights) / total_weight
            # The optimizer's loss scale, if any (a LossScaleOptimizer under
            # mixed_float16 unscales the gradients it is given).
            scaled = self.optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled, self.model.trainable_variables)
        return loss, gradients

    def _build_step(self):
        tf = _tensorflow()
        # Straight-line code: no AutoGraph conversion (it costs tracing time).
        compute = tf.function(
            self._compute, jit_compile=self.jit_compile, autograph=False
        )

        def replica_step(batch):
            if len(batch) == 3:
                inputs, targets, weights = batch
            else:
                (inputs, targets), weights = batch, None
            if weights is None:
                # One weight per target: per id for integer targets, per row
                # of a dense (one-hot or probability) target.
                shape = tf.shape(targets)
                if not targets.dtype.is_integer:
                    shape = shape[:-1]
                weights = tf.ones(shape, tf.float32)
            context = tf.distribute.get_replica_context()
            # The global normalizer, reduced outside the compiled function.
            total = context.all_reduce("sum", tf.reduce_sum(tf.cast(weights, tf.float32)))
            total = tf.maximum(total, 1.0)
            loss, gradients = compute(inputs, targets, weights, total)
            self.optimizer.apply_gradients(zip(gradients, self.model.trainable_variables))
            return loss

        @tf.function(autograph=False)
        def step(distributed_batch):
            losses = self.strategy.run(replica_step, args=(distributed_batch,))
            return self.strategy.reduce("sum", losses, axis=None)

        return step

    def _distributed(self, epoch, skip):
        """Epoch `epoch`'s global batches after the first `skip`, split per replica."""
        tf = _tensorflow()
        replicas = self.strategy.num_replicas_in_sync

        def dataset_for(context):
            data = self.dataset_fn(epoch).take(self.steps_per_epoch).skip(skip)
            local = replicas // context.num_input_pipelines  # this worker's replicas
            first = context.input_pipeline_id * local

            def pieces(*batch):
                # Consecutive elements go to this worker's replicas in order.
                out = tf.data.Dataset.from_tensors(_split_rows(batch, replicas, first))
                for j in range(1, local):
                    out = out.concatenate(tf.data.Dataset.from_tensors(
                        _split_rows(batch, replicas, first + j)))
                return out

            return data.flat_map(pieces)

        return self.strategy.distribute_datasets_from_function(dataset_for)

    # -- the loop ------------------------------------------------------------------

    def fit(self, epochs, verbose=1):
        """Train to `epochs` epochs from where the checkpoint left off.

        Returns `{"loss": [mean loss of each epoch trained in this call]}`.
        """
        if self._step_fn is None:
            self._step_fn = self._build_step()
        history = {"loss": []}
        done = int(self.step.numpy())
        first_epoch, skip = divmod(done, self.steps_per_epoch)
        for epoch in range(first_epoch, epochs):
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}", flush=True)
            bar = keras.utils.Progbar(self.steps_per_epoch, verbose=verbose,
                                      stateful_metrics=["loss"])
            losses = []
            iterator = iter(self._distributed(epoch, skip))
            for index in range(skip, self.steps_per_epoch):
                loss = float(self._step_fn(next(iterator)))
                self.step.assign_add(1)
                losses.append(loss)
                bar.update(index + 1, [("loss", float(np.mean(losses)))])
                if self.manager is not None and (
                    int(self.step.numpy()) % self.checkpoint_every == 0
                ):
                    self.manager.save(checkpoint_number=int(self.step.numpy()))
            skip = 0
            if self.manager is not None:
                self.manager.save(checkpoint_number=int(self.step.numpy()))
            history["loss"].append(float(np.mean(losses)) if losses else float("nan"))
        return history
