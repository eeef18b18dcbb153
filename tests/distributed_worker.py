"""One worker of the distributed tests: `python -m tests.distributed_worker ARGS`.

Trains a tiny RNNsearch on a generated German-English corpus with
`keras_attention.distributed.DistributedTrainer` under the
`MultiWorkerMirroredStrategy` that `TF_CONFIG` describes (one worker without
it), then writes the final weights to `--out` (.npz), and with `--jit-out`
trains again XLA-compiled and writes those too. `--kill-at-step N`
ends the process abruptly right after step N, as a crashed machine would.

`--mirrored` instead splits the CPU into two logical devices and trains the
same model with `model.fit` twice, under `MirroredStrategy` over both and
with no strategy, on the same global batches: `--out` gets both weights.
"""

import argparse
import collections
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_attention import distributed  # noqa: E402
from keras_attention.data import subwords, translation  # noqa: E402
from keras_attention.models import compile_translation_model, translation_model  # noqa: E402
from tests import translation_fixtures  # noqa: E402

LENGTH = 48


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--checkpoint-dir")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--global-batch", type=int, default=8)
    parser.add_argument("--checkpoint-every", type=int, default=2)
    parser.add_argument("--kill-at-step", type=int)
    parser.add_argument("--mirrored", action="store_true")
    parser.add_argument("--jit-out",
                        help="then train again with each replica's forward and "
                             "backward pass XLA-compiled, under the same strategy, "
                             "and write those weights here")
    args = parser.parse_args(argv)
    if args.mirrored:
        distributed.use_logical_cpus(2)

    german, english = translation_fixtures.corpus(1000 if args.mirrored else 200)
    source = subwords.SubwordTokenizer.train(german, vocabulary_size=40)
    target = subwords.SubwordTokenizer.train(english, vocabulary_size=40)
    source_ids, target_ids = source.encode(german), target.encode(english)

    def build():
        keras.utils.set_random_seed(0)
        model = translation_model(
            "rnnsearch", source.vocabulary_size, target.vocabulary_size,
            source_length=LENGTH, target_length=LENGTH, units=16, embedding_dim=8,
            dropout=0.0)
        return compile_translation_model(model, learning_rate=1e-2, jit_compile=False)

    def dataset_fn(epoch):
        data = translation.translation_dataset(
            source_ids, target_ids, batch_size=args.global_batch, seed=epoch,
            max_source_length=LENGTH, max_target_length=LENGTH)
        return data.unbatch().batch(args.global_batch, drop_remainder=True)

    if args.mirrored:
        weights = {}
        for name, strategy in (("mirrored", distributed.mirrored_strategy()),
                               ("single", tf.distribute.get_strategy())):
            with strategy.scope():
                model = build()
                # Plain SGD: Adam divides by sqrt(v), which turns the float
                # rounding of near-zero gradients (the replicas sum in
                # another order) into whole steps of the learning rate.
                model.compile(optimizer=keras.optimizers.SGD(0.5), loss=model.loss,
                              jit_compile=False)
            # fit under MirroredStrategy averages each replica's per-token
            # mean: the global mean when the replicas hold equally many
            # target tokens, so these batches hold pairs of one length.
            pairs = collections.Counter(
                (len(s), len(t)) for s, t in zip(source_ids, target_ids))
            lengths = pairs.most_common(1)[0][0]
            chosen = [(s, t) for s, t in zip(source_ids, target_ids)
                      if (len(s), len(t)) == lengths]
            data = translation.translation_dataset(
                [s for s, _ in chosen], [t for _, t in chosen],
                batch_size=args.global_batch, shuffle=False,
                max_source_length=LENGTH, max_target_length=LENGTH,
            ).unbatch().batch(args.global_batch, drop_remainder=True)
            model.fit(data, epochs=args.epochs, verbose=0)
            weights[name] = model.get_weights()
            replicas = strategy.num_replicas_in_sync
            print(f"{name}: {replicas} replicas", flush=True)
        np.savez(args.out, **{f"{name}_{i}": w for name, ws in weights.items()
                              for i, w in enumerate(ws)})
        return

    trainer = distributed.DistributedTrainer(
        build, dataset_fn, steps_per_epoch=args.steps,
        checkpoint_dir=args.checkpoint_dir, checkpoint_every=args.checkpoint_every)
    if args.kill_at_step is not None:
        step_fn = trainer._build_step()

        def dying(batch):
            loss = step_fn(batch)
            if int(trainer.step.numpy()) + 1 >= args.kill_at_step:
                sys.stdout.flush()
                os._exit(17)
            return loss

        trainer._step_fn = dying
    trainer.fit(args.epochs, verbose=0)
    _save(trainer, args.out, "worker")
    if args.jit_out:
        # A second trainer under the same strategy (a process configures its
        # cluster once): a worker's start-up and the cluster's, paid once.
        compiled = distributed.DistributedTrainer(
            build, dataset_fn, steps_per_epoch=args.steps, strategy=trainer.strategy,
            jit_compile=True)
        compiled.fit(args.epochs, verbose=0)
        _save(compiled, args.jit_out, "jit worker")


def _save(trainer, path, what):
    np.savez(path, *[np.asarray(w) for w in trainer.model.get_weights()],
             step=int(trainer.step.numpy()))
    print(f"{what} {trainer.worker_index} of {trainer.num_workers}: "
          f"{int(trainer.step.numpy())} steps, {trainer.strategy.num_replicas_in_sync} "
          "replicas", flush=True)


if __name__ == "__main__":
    main()
