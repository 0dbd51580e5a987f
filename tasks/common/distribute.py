"""Where a recipe trains: `--strategy {auto,one-device,mirrored,multi-worker}` turned into a tf.distribute strategy.

    auto          several local GPUs: mirrored; TF_CONFIG naming several tasks: multi-worker; else one device
    one-device    the first GPU, or the CPU
    mirrored      every local GPU (without GPUs: `--cpu-replicas N` logical CPU devices, to try the path on a laptop)
    multi-worker  MultiWorkerMirroredStrategy over the machines that the TF_CONFIG environment variable names

Single-device runs keep Keras `fit`. Mirrored and multi-worker runs use `tasks.common.distributed_loop`, because
Keras 3's `fit` fails under MultiWorkerMirroredStrategy (keras-team/keras#20585) and one loop for both keeps their
meaning of `--batch-size` the same: it is the batch of one replica, so a step trains on
`--batch-size x replicas` examples.
"""

import atexit
import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path

from tasks.common.cli import UserError, flag, require_positive

STRATEGIES = ("auto", "one-device", "mirrored", "multi-worker")

# What --shape-graphs does; each recipe's default and its reason follow it in the flag's help.
SHAPE_GRAPHS_HELP = ("give each batch shape that recurs in the first epoch its own traced training step, one batch a "
                     "call (about 2 s per shape in the first epoch)")

TF_CONFIG_EXAMPLE = ('TF_CONFIG=\'{"cluster": {"worker": ["host0:12345", "host1:12345"]}, '
                     '"task": {"type": "worker", "index": 0}}\'')


@dataclasses.dataclass
class DistributionFlags:
    """The placement and runtime flags every recipe's Config inherits."""

    strategy: str = flag("auto", "where to train: auto, one-device, mirrored (all local GPUs) or multi-worker "
                                 "(the machines in TF_CONFIG)", choices=STRATEGIES)
    cpu_replicas: int = flag(1, "with --strategy mirrored on a machine without GPUs: split the CPU into this many "
                                "logical devices (tries the multi-device path; it is not faster)")
    autotune: bool = flag(False, "let tf.data tune its prefetching and parallelism (off: measured slower and "
                                 "unsteady on 2 cores, see bench/README.md)")
    intra_op_threads: int = flag(0, "threads one TensorFlow op may use (0: TensorFlow's choice, every core)")
    inter_op_threads: int = flag(0, "TensorFlow ops run at the same time (0: TensorFlow's choice)")
    shape_graphs: bool | None = flag(None, SHAPE_GRAPHS_HELP + ": on for Keras's recurrent loops, whose steps it "
                                           "makes faster; off for a model on a fused kernel (zoo.fuse_lstms, "
                                           "zoo.fuse_grus), whose steps it does not")
    steps_per_execution: int = flag(8, "batches that one call of Keras fit's compiled training step trains, one "
                                       "Python round trip for all of them (one-device fit on a fused kernel or with "
                                       "--no-shape-graphs; a per-shape step takes one batch a call). 8: 1.06x the "
                                       "sentiment model's speed at 100 tokens, 1.13x on SST-2, level at 400 tokens")

    def refuse_conflicts(self, placement):
        """A UserError for flags that cannot work where this run trains, raised before anything is created. Recipes
        with flags of their own to check extend it."""
        if getattr(self, "xla", False) and not placement.uses_fit:
            raise UserError(f"--xla compiles Keras fit's training step, and --strategy {placement.kind} trains with "
                            "its own distributed loop; pass --no-xla (or train on one device).")


@dataclasses.dataclass(frozen=True)
class Placement:
    """The strategy this process trains under, and its role in the job."""

    strategy: object  # tf.distribute.Strategy
    kind: str  # "one-device", "mirrored" or "multi-worker" (auto resolved)
    workers: int = 1
    worker_index: int = 0
    is_chief: bool = True
    # One-device fit: a traced step per frequent batch shape (training.ShapeSpecializedSteps); None: unless the model
    # trains on a fused kernel.
    shape_graphs: bool | None = None
    # One-device fit on Keras's step (no shape graphs): batches trained per call of the compiled step.
    steps_per_execution: int = 1

    @property
    def replicas(self):
        """Replicas in the whole job: a step trains on this many batches at once."""
        return self.strategy.num_replicas_in_sync

    @property
    def uses_fit(self):
        return self.kind == "one-device"

    def scope(self):
        """Create the model and compile it inside this, so its variables are placed on every replica."""
        return self.strategy.scope()

    def output_dir(self, path):
        """`path` on the chief. Other workers get a private temporary folder, removed at exit: they write nowhere the
        user sees."""
        if self.is_chief:
            return Path(path)
        private = Path(tempfile.mkdtemp(prefix=f"zoo-worker{self.worker_index}-"))
        atexit.register(shutil.rmtree, private, ignore_errors=True)
        return private

    def local_copy(self, model):
        """The trained model as a plain one-device model (same weights and compile settings) for evaluation and
        export, so that nothing after training runs collectives or saves distributed variables. Under one-device
        training, `model` itself."""
        if self.uses_fit:
            return model
        copy = type(model).from_config(model.get_config())  # a ZooModel stays one (clone_model would not)
        copy.set_weights(model.get_weights())
        if model.compiled:
            copy.compile_from_config(model.get_compile_config())
        return copy

    def worker_summary(self, history):
        """What a non-chief worker's run returns: the chief alone evaluates, writes metrics and exports."""
        from tasks.common.training import history_summary

        return {"worker": self.worker_index, "training": history_summary(history)}

    def describe(self):
        if self.kind == "one-device":  # the default strategy lists no devices: TensorFlow places ops, a GPU first
            import tensorflow as tf

            devices = "/gpu:0" if tf.config.list_physical_devices("GPU") else "/cpu:0"
        else:
            devices = ", ".join(self.strategy.extended.worker_devices)
        role = f"worker {self.worker_index} of {self.workers}{' (chief)' if self.is_chief else ''}; " \
            if self.kind == "multi-worker" else ""
        return f"strategy: {self.kind}, {role}{self.replicas} replica(s) in the job; local devices: {devices}"


def start_run(cfg):
    """The start every recipe shares, in the order it needs: the placement (before TensorFlow starts), the seed, and
    this worker's run folder with `cfg` recorded in it. Returns (placement, run_dir, resuming), `resuming` as
    `prepare_run_dir` says."""
    placement = place(cfg)
    cfg.refuse_conflicts(placement)
    from tasks.common.training import prepare_run_dir, set_seed  # imports TensorFlow: after place()

    set_seed(cfg.seed)
    run_dir = placement.output_dir(cfg.run_dir)
    return placement, run_dir, prepare_run_dir(run_dir, cfg)


def place(cfg):
    """The Placement for `cfg.strategy`, announced on stdout. Call it before importing TensorFlow: logical devices
    and collective ops can only be configured before the runtime starts, and a flag mistake is then one clean line."""
    placement = dataclasses.replace(_place(cfg), shape_graphs=cfg.shape_graphs,
                                    steps_per_execution=cfg.steps_per_execution)
    print(placement.describe())
    return placement


def _place(cfg):
    require_positive(cfg, "cpu_replicas", "steps_per_execution")
    kind = cfg.strategy
    if kind == "auto" and _tf_config_tasks() > 1:
        kind = "multi-worker"
    if kind == "multi-worker":
        cluster = _checked_cluster()  # checked before TensorFlow starts, so a mistake is one clean line
    from zoo.quiet import import_tensorflow

    tf = import_tensorflow()

    _set_thread_pools(tf, cfg.intra_op_threads, cfg.inter_op_threads)
    gpus = tf.config.list_physical_devices("GPU")
    if kind == "auto":
        kind = "mirrored" if len(gpus) > 1 else "one-device"
    if cfg.cpu_replicas > 1 and (kind != "mirrored" or gpus):
        raise UserError("--cpu-replicas only applies to --strategy mirrored on a machine without GPUs.")
    if kind == "one-device":
        # TensorFlow's default strategy, not OneDeviceStrategy: under OneDeviceStrategy `zoo.FusedAdam` has to fall
        # back to Keras's update, and the translation recipe's epochs ran at half speed now and then (4 recipe runs
        # of 30,000 pairs: 6 of 13 epochs at 80-84 s against 42-49 s; the same model fitted without one: none of 12).
        return Placement(tf.distribute.get_strategy(), kind)
    if kind == "mirrored":
        if gpus:
            return Placement(_mirrored(tf), kind)
        _split_cpu(tf, cfg.cpu_replicas)
        return Placement(_mirrored(tf, [d.name for d in tf.config.list_logical_devices("CPU")]), kind)
    return _multi_worker(tf, cluster)


def _mirrored(tf, devices=None):
    """A MirroredStrategy whose collectives cannot meet an earlier strategy's in this process. Every strategy numbers
    its collectives from the same keys, so a second mirrored run in one process (a notebook, a loop over models)
    failed with "Shape mismatch in the collective instance 100" (tensorflow/tensorflow#62790); TensorFlow's own tests
    move the key base the same way for each strategy they make (distribute/strategy_combinations.py)."""
    tf.distribute.MirroredStrategy._collective_key_base += 100_000
    return tf.distribute.MirroredStrategy(devices)


def _set_thread_pools(tf, intra, inter):
    """Size TensorFlow's thread pools (0 leaves TensorFlow's choice). They are fixed once the runtime starts, so in a
    process where TensorFlow already ran (a test session, a notebook) the running pools stay, with a note."""
    if intra < 0 or inter < 0:
        raise UserError(f"--intra-op-threads and --inter-op-threads must be 0 or more (got {intra}, {inter}).")
    wanted = {"intra": intra, "inter": inter}
    current = {"intra": tf.config.threading.get_intra_op_parallelism_threads(),
               "inter": tf.config.threading.get_inter_op_parallelism_threads()}
    setters = {"intra": tf.config.threading.set_intra_op_parallelism_threads,
               "inter": tf.config.threading.set_inter_op_parallelism_threads}
    for pool, count in wanted.items():
        if count and count != current[pool]:
            try:
                setters[pool](count)
            except RuntimeError:
                print(f"note: TensorFlow already started in this process; its {pool}-op thread pool stays as it is "
                      f"(--{pool}-op-threads {count} applies to a new process)")


def _split_cpu(tf, count):
    if count == 1:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError as error:  # the runtime already started in this process
        current = len(tf.config.list_logical_devices("CPU"))
        if current != count:
            raise RuntimeError(f"--cpu-replicas {count} must be set before TensorFlow starts; this process already "
                               f"has {current} logical CPU device(s)") from error


def _tf_config_tasks():
    config = _read_tf_config()
    return sum(len(addresses) for addresses in config.get("cluster", {}).values()) if config else 0


def _read_tf_config():
    text = os.environ.get("TF_CONFIG", "").strip()
    if not text:
        return None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(f"TF_CONFIG is not valid JSON ({error.msg} at character {error.pos}); it should look "
                        f"like {TF_CONFIG_EXAMPLE}") from None
    if not isinstance(config, dict):
        raise UserError(f"TF_CONFIG must be a JSON object like {TF_CONFIG_EXAMPLE}")
    return config


def _checked_cluster():
    """TF_CONFIG's cluster, after checking that it and this process's task in it make sense."""
    config = _read_tf_config()
    if config is None:
        raise UserError(f"--strategy multi-worker needs the TF_CONFIG environment variable on every worker, e.g. "
                        f"{TF_CONFIG_EXAMPLE} (index 1 on the second machine).")
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise UserError(f"TF_CONFIG needs a \"cluster\" and a \"task\" entry, like {TF_CONFIG_EXAMPLE}")
    unknown = sorted(set(cluster) - {"chief", "worker"})
    if unknown:
        raise UserError(f"TF_CONFIG's cluster has {', '.join(unknown)} jobs; multi-worker training uses only "
                        "\"worker\" (and optionally one \"chief\") entries.")
    members = cluster.get(task.get("type"))
    index = task.get("index")
    if not isinstance(members, list) or not isinstance(index, int) or not 0 <= index < len(members):
        raise UserError(f"TF_CONFIG's task {json.dumps(task)} is not in its cluster {json.dumps(cluster)}: the "
                        "task needs a \"type\" that the cluster lists and an \"index\" into that list.")
    if len(cluster.get("chief", [])) > 1:
        raise UserError("TF_CONFIG's cluster may name at most one chief.")
    return cluster


def _multi_worker(tf, cluster):
    # No collective timeout: TF implements it with one sleeping thread per collective, thousands per epoch (the
    # process dies of it). A dead worker is found by the coordination service's heartbeats instead.
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    resolver = strategy.cluster_resolver
    has_chief = bool(cluster.get("chief"))
    is_chief = resolver.task_type == "chief" or (not has_chief and resolver.task_id == 0)
    workers = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
    position = resolver.task_id + (1 if has_chief and resolver.task_type == "worker" else 0)
    return Placement(strategy, "multi-worker", workers=workers, worker_index=position, is_chief=is_chief)
