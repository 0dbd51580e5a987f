"""The serving fast path: a compiled (XLA) model function fed a fixed set of shapes, and the TF Serving warm-up
records that compile every one of them when the model loads.

XLA compiles a function once per input shape. Fed raw request shapes it would compile at almost every request, so
the exports pad token ids to the next length bucket (the training buckets' edges) and the batch to the next power of
two, then cut the padded rows off the answer. Padding ids are 0 and masked, so they never change a result. The
warm-up file (`assets.extra/tf_serving_warmup_requests`, TF Serving's format: a TFRecord of `PredictionLog`s) holds one
request per (length, batch) shape; TF Serving and `tasks.serve` run it before the version is served, so no client
pays for a compilation.

Every other export is warmed up too, with one real input of the recipe's data per signature (`Run.finish`'s
`warmup`, `example_warmup_requests`): its graph runs any shape, but the first call of a loaded SavedModel costs
120-500 ms, which the warm-up moves from the first client to the load.
"""

import numpy as np
import tensorflow as tf

WARMUP_FILE = "tf_serving_warmup_requests"  # in assets.extra/, where TF Serving looks for it
MAX_WARMUP_RECORDS = 1000  # TF Serving refuses a longer warm-up file (saved_model_warmup_util.cc)
BATCH_BUCKETS = tuple(2 ** k for k in range(17))  # 1 ... 65,536 rows; a larger request runs at its own size
WARMUP_BATCHES = tuple(2 ** k for k in range(7))  # 1 ... 64: the batcher's default largest batch
# A graph that runs any shape still pays its session's first-run work (graph optimization, 120-500 ms for the
# recipes' exports) on the first call, and again on the first call that takes another branch (a request of 8 rows
# or more is grouped by length: 25 ms the first time, 2 ms after); after one request of each size every other size
# ran at its steady cost (bench/README.md, "Warm-up at load").
EXAMPLE_WARMUP_ROWS = (1, 8)


def length_buckets(max_length, step):
    """The padded lengths: step, 2 x step, ... and max_length itself."""
    edges = list(range(step, max_length + 1, step))
    if not edges or edges[-1] != max_length:
        edges.append(max_length)
    return edges


def pad_to_bucket(ids, lengths):
    """Pad [batch, time] int ids with 0 to the next of `lengths` (time is at most its last) and to the next power of
    two rows. Returns (padded ids, the real row count) so the caller can cut the answer back to size."""
    rows, steps = tf.shape(ids)[0], tf.shape(ids)[1]
    buckets = tf.constant(BATCH_BUCKETS, tf.int32)
    to_rows = tf.maximum(rows, tf.gather(buckets, tf.minimum(tf.searchsorted(buckets, [rows])[0],
                                                             len(BATCH_BUCKETS) - 1)))
    edges = tf.constant(lengths, tf.int32)
    to_steps = tf.gather(edges, tf.minimum(tf.searchsorted(edges, [steps])[0], len(lengths) - 1))
    padded = tf.pad(ids, [[0, to_rows - rows], [0, tf.maximum(0, to_steps - steps)]])
    return padded, rows


def predict_in_buckets(network, ids, lengths, max_batch=WARMUP_BATCHES[-1]):
    """`network(ids)` (one value per row) run on bucket shapes only: up to `max_batch` rows as one batch padded to a
    power of two, more rows in chunks of `max_batch`, so a large request uses the warmed-up shapes instead of
    compiling (and padding to) a new one."""
    rows = tf.shape(ids)[0]

    def one_batch():
        padded, _ = pad_to_bucket(ids, lengths)
        return network(padded)[:rows]

    return tf.cond(rows <= max_batch, one_batch, lambda: _chunked(network, ids, lengths, max_batch))


def _chunked(network, ids, lengths, max_batch):
    rows = tf.shape(ids)[0]
    count = (rows + max_batch - 1) // max_batch
    steps = tf.shape(pad_to_bucket(ids[:1], lengths)[0])[1]  # the length bucket of these ids
    grid = tf.pad(ids, [[0, count * max_batch - rows], [0, steps - tf.shape(ids)[1]]])
    outputs = tf.map_fn(network, tf.reshape(grid, [count, max_batch, steps]), fn_output_signature=tf.float32)
    return tf.reshape(outputs, [-1])[:rows]


def predict_by_length(network, ids, group=16, min_rows=8):
    """`network(ids)` (one float per row) for right-padded ids (0 = padding), with the rows of a request of at
    least `min_rows` run in groups of similar lengths, each cut to its own longest row, instead of every row padded
    to the longest of the request: a recurrent network's cost is rows x steps, and a request of real reviews wastes
    about half of it on padding otherwise. Groups hold at most `group` rows and a request makes at least two, and
    two groups run at once, so a mid-sized request (a server's batch) keeps both cores of a small server busy:
    16 IMDB reviews took 13.5 ms in one group and 10.4 ms in two groups of 8, while 4 reviews were faster in one
    group (bench/README.md, "The serving fast path")."""
    rows = tf.shape(ids)[0]
    size = tf.minimum(group, (rows + 1) // 2)

    def grouped():
        lengths = tf.reduce_sum(tf.cast(ids != 0, tf.int32), axis=1)
        order = tf.argsort(lengths, direction="DESCENDING", stable=True)
        ordered, ordered_lengths = tf.gather(ids, order), tf.gather(lengths, order)
        count = (rows + size - 1) // size

        def one_group(i, values):
            start = i * size
            longest = tf.maximum(ordered_lengths[start], 1)  # the group's first row is its longest
            return i + 1, values.write(i, network(ordered[start:start + size, :longest]))

        values = tf.TensorArray(tf.float32, size=count, infer_shape=False)  # the last group may be shorter
        _, values = tf.while_loop(lambda i, _: i < count, one_group, (0, values), parallel_iterations=2)
        return tf.scatter_nd(order[:, None], values.concat(), [rows])

    return tf.cond(rows >= min_rows, grouped, lambda: network(ids))


def write_warmup_requests(path, requests):
    """Write `requests` ([(signature name, {input alias: array})]) as TF Serving warm-up records (PredictLog) to
    `path`."""
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    if len(requests) > MAX_WARMUP_RECORDS:
        raise ValueError(f"{len(requests)} warm-up requests; TF Serving reads at most {MAX_WARMUP_RECORDS}.")
    with tf.io.TFRecordWriter(str(path)) as writer:
        for signature_name, inputs in requests:
            request = predict_pb2.PredictRequest()
            request.model_spec.signature_name = signature_name
            for alias, value in inputs.items():
                request.inputs[alias].CopyFrom(tf.make_tensor_proto(value))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())


def text_warmup_requests(lengths, alias="text", batches=WARMUP_BATCHES):
    """One request of strings per (length, batch) shape: `length` words each, so the ids fill that bucket."""
    return [("serving_default", {alias: [" ".join(["warmup"] * length)] * batch})
            for length in lengths for batch in batches]


def example_warmup_requests(examples, rows=EXAMPLE_WARMUP_ROWS):
    """`examples` ({signature name: {input alias: one row's value}}, a real input of the recipe's data) -> one
    request per signature and row count, the row repeated."""
    return [(name, {alias: np.stack([np.asarray(value)] * count) for alias, value in inputs.items()})
            for name, inputs in examples.items() for count in rows]
