"""Decoding loops over the zoo's `encode` / `decode_step` models: greedy and beam search as graph loops
(`tf.while_loop` + `TensorArray`, so an exported SavedModel runs them with no Python), and the eager Python loop at
batch 1 that tutorials use, kept as the reference the graph loops are tested and benchmarked against.

`models` is `zoo.inference_models(model)`: encode(source ids) -> {decoder_init_*, memory?, memory_mask?};
decode_step({previous_token, decoder_init_*, memory?, memory_mask?}) -> {logits, decoder_init_*, attention?}.
Every loop returns ids [batch, steps] that are 0 after the first `end_id`.
"""

import numpy as np
import tensorflow as tf

NEG_INF = -1e9


def _split_encoded(encoded):
    """(states carried from step to step, context that stays fixed: the attention memory and its mask)."""
    # identity drops the Keras padding mask the encoder attached; decode_step takes the mask as an explicit input.
    encoded = {k: tf.identity(v) for k, v in encoded.items()}
    states = {k: v for k, v in encoded.items() if k.startswith("decoder_init")}
    return states, {k: v for k, v in encoded.items() if k not in states}


def greedy_decode(models, source, *, start_id, end_id, max_length):
    """Most likely next token at each step, for a whole batch at once; stops when every row has emitted `end_id`.

    Returns (ids int32 [batch, steps], attention float32 [batch, steps, source_time]; zeros without attention).
    """
    ids, weights, steps = greedy_loop(models, source, start_id=start_id, end_id=end_id, max_length=max_length)
    return ids[:, :steps], weights[:, :steps]


def greedy_loop(models, source, *, start_id, end_id, max_length, active_rows=None):
    """`greedy_decode` with every shape fixed, so XLA can compile it: (ids [batch, max_length], attention [batch,
    max_length, source_time], steps run). Rows from `active_rows` on (padding of a batch) count as finished."""
    states, context = _split_encoded(models["encode"](source, training=False))
    batch, source_time = tf.shape(source)[0], tf.shape(source)[1]

    def step(t, token, done, states, ids, weights):
        out = models["decode_step"]({"previous_token": token, **states, **context}, training=False)
        next_id = tf.argmax(out["logits"][:, -1], axis=-1, output_type=tf.int32)
        next_id = tf.where(done, 0, next_id)
        at_t = tf.one_hot(t, max_length)  # written with a mask, not a TensorArray: XLA needs the shapes fixed
        ids += tf.cast(at_t, tf.int32)[None, :] * next_id[:, None]
        if "attention" in out:
            weights += at_t[None, :, None] * out["attention"][:, 0][:, None, :]
        done = done | tf.equal(next_id, end_id)
        token = tf.where(done, end_id, next_id)[:, None]  # a finished row keeps feeding [END]; its output is unused
        return t + 1, token, done, {k: out[k] for k in states}, ids, weights

    # An explicit graph loop (what autograph makes of `for t in tf.range(...)`), so it runs the same in a
    # tf.function, in an exported SavedModel and eagerly.
    steps, _, _, _, ids, weights = tf.while_loop(
        lambda t, token, done, *_: (t < max_length) & ~tf.reduce_all(done), step,
        (tf.constant(0), tf.fill([batch, 1], tf.constant(start_id, tf.int32)), _padding_rows(batch, active_rows),
         states, tf.zeros([batch, max_length], tf.int32), tf.zeros([batch, max_length, source_time])))
    return ids, weights, steps


def _padding_rows(batch, active_rows):
    """[batch] bool: True for the rows from `active_rows` on (None: none)."""
    return tf.zeros([batch], tf.bool) if active_rows is None else tf.range(batch) >= active_rows


def beam_search(models, source, *, start_id, end_id, max_length, beam_width, length_penalty=1.0, active_rows=None):
    """The `beam_width` most likely partial translations are kept at each step; the finished one with the best
    log-probability / length**length_penalty wins. Width 1 is greedy decoding. Returns ids int32 [batch, max_length].
    Its shapes are fixed, so XLA can compile it; rows from `active_rows` on (padding of a batch) count as finished.
    """
    k = beam_width
    states, context = _split_encoded(models["encode"](source, training=False))
    batch = tf.shape(source)[0]
    # Rows b*k ... b*k + k - 1 are the beams of sentence b.
    states = {name: tf.repeat(v, k, axis=0) for name, v in states.items()}
    context = {name: tf.repeat(v, k, axis=0) for name, v in context.items()}

    def step(t, token, scores, finished, states, ids):
        out = models["decode_step"]({"previous_token": token, **states, **context}, training=False)
        log_probs = tf.nn.log_softmax(out["logits"][:, -1])
        vocab = tf.shape(log_probs)[-1]
        log_probs = tf.reshape(log_probs, [batch, k, vocab])
        # A finished beam may only "continue" with [END] at no cost, so it keeps its score and competes as it is.
        end_only = tf.where(tf.equal(tf.range(vocab), end_id), 0.0, NEG_INF)
        log_probs = tf.where(finished[..., None], end_only, log_probs)
        scores, flat_index = tf.math.top_k(tf.reshape(scores[..., None] + log_probs, [batch, k * vocab]), k=k)
        parent, next_id = flat_index // vocab, flat_index % vocab
        ids = tf.gather(ids, parent, batch_dims=1)
        was_finished = tf.gather(finished, parent, batch_dims=1)
        next_id = tf.where(was_finished, 0, next_id)
        ids += tf.one_hot(t, max_length, dtype=tf.int32)[None, None, :] * next_id[..., None]
        finished = was_finished | tf.equal(next_id, end_id)
        rows = tf.reshape(parent + tf.range(batch)[:, None] * k, [-1])
        token = tf.reshape(tf.where(finished, end_id, next_id), [-1, 1])
        # a gather loses the states' static shape, which the loop needs kept when the batch is known at tracing
        states = {name: tf.ensure_shape(tf.gather(out[name], rows), value.shape) for name, value in states.items()}
        return t + 1, token, scores, finished, states, ids

    # All beams start identical: only beam 0 may expand at the first step, or the top k would be k copies.
    scores = tf.concat([tf.zeros([batch, 1]), tf.fill([batch, k - 1], NEG_INF)], axis=1)
    finished = tf.tile(_padding_rows(batch, active_rows)[:, None], [1, k])
    _, _, scores, _, _, ids = tf.while_loop(
        lambda t, token, scores, finished, *_: (t < max_length) & ~tf.reduce_all(finished), step,
        (tf.constant(0), tf.fill([batch * k, 1], tf.constant(start_id, tf.int32)), scores,
         finished, states, tf.zeros([batch, k, max_length], tf.int32)))
    lengths = tf.maximum(tf.reduce_sum(tf.cast(ids > 0, tf.float32), axis=-1), 1.0)
    best = tf.argmax(scores / lengths ** length_penalty, axis=1, output_type=tf.int32)
    return tf.gather(ids, best, batch_dims=1)


def python_loop_greedy(models, source_row, *, start_id, end_id, max_length):
    """The tutorial way: one sentence, one eager model call per step, the loop in Python. Slow; the reference.

    `source_row` is ids [1, source_time]; returns a list of ids ending with `end_id` (or `max_length` long).
    """
    states, context = _split_encoded(models["encode"](source_row, training=False))
    token, out_ids = start_id, []
    for _ in range(max_length):
        out = models["decode_step"]({"previous_token": tf.constant([[token]], tf.int32), **states, **context},
                                    training=False)
        token = int(np.argmax(out["logits"][0, -1]))
        out_ids.append(token)
        if token == end_id:
            break
        states = {k: out[k] for k in states}
    return out_ids
