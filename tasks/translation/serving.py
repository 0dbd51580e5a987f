"""Strings in, strings out: the trained seq2seq, its subword tokenizers and the decode loops, in process and exported.

The exported SavedModel has three signatures, each taking a batch of source strings (input `text`):
- `serving_default`: greedy decoding -> `translation`
- `beam_search`: beam search of the configured width -> `translation`
- `attention`: greedy decoding -> `translation`, `attention` [batch, target_steps, source_steps], and the words on
  both axes (`source_tokens`, `target_tokens`: subword pieces), for plots and debugging.

Tokenization is tensorflow-text's SentencePiece op (see `subwords`); `assets.extra/` holds `source.spm` and
`target.spm`, the two SentencePiece models, for users who tokenize outside the graph.

With `compiled` (`--xla-serving`), greedy and beam search run XLA-compiled over a fixed set of shapes: sources
padded to `max_length` pieces and batches to a power of two up to 64 rows (the padding rows count as finished from
the start), larger requests on the plain loop. The warm-up file compiles each shape at load. At batch 1 that halves
the latency (bench/README.md, "Translation's decode loop compiled"); TF Serving runs it only with
`--xla_cpu_compilation_enabled=true`.
"""

import copy
import json
from pathlib import Path

import keras
import tensorflow as tf

import zoo
from tasks.common.cli import UserError
from tasks.common.export import add_endpoint_traced_once, version_folder, write_extras
from tasks.common.serving_shapes import (
    EXAMPLE_WARMUP_ROWS,
    WARMUP_BATCHES,
    WARMUP_FILE,
    example_warmup_requests,
    pad_to_bucket,
    write_warmup_requests,
)
from tasks.common.text import answers_in_batches, decoder_inputs
from tasks.translation.data import source_ids
from tasks.translation.decoding import beam_search, greedy_decode, greedy_loop
from tasks.translation.subwords import END_ID, START_ID, SubwordIds, Subwords, require_known_script

SIGNATURES = ("serving_default", "beam_search", "attention")
COMPILED_SIGNATURES = ("serving_default", "beam_search")  # `attention` answers shapes that vary: never compiled


class Translator:
    """The decode loops over a trained seq2seq model and its two subword tokenizers, as graph functions of strings."""

    def __init__(self, model, source_subwords, target_subwords, *, max_length, beam_width, length_penalty=1.0):
        self.model = model
        self.models = zoo.inference_models(model)
        self.source_subwords, self.target_subwords = source_subwords, target_subwords
        self.loop_args = dict(start_id=START_ID, end_id=END_ID, max_length=max_length)
        self.max_length, self.beam_width, self.length_penalty = max_length, beam_width, length_penalty
        self.compiled = False  # `with_compiled_loops` gives a copy whose loops are
        self.loops = {  # source ids [batch, time], the rows that are not padding -> ids [batch, max_length]
            "greedy": lambda source, rows=None: greedy_loop(self.models, source, active_rows=rows,
                                                            **self.loop_args)[0],
            "beam": lambda source, rows=None: beam_search(self.models, source, beam_width=self.beam_width,
                                                          length_penalty=self.length_penalty, active_rows=rows,
                                                          **self.loop_args)}
        self.compiled_loops = {name: tf.function(loop, jit_compile=True) for name, loop in self.loops.items()}

    def with_compiled_loops(self, compiled=True):
        """The same translator (the same models and weights) whose greedy and beam search run XLA-compiled."""
        served = copy.copy(self)
        served.compiled = compiled
        return served

    def source(self, text):
        return require_known_script(source_ids(self.source_subwords, text, self.max_length))

    def greedy(self, text):
        return {"translation": self.detokenize(self.decode("greedy", self.source(text)))}

    def beam(self, text):
        return {"translation": self.detokenize(self.decode("beam", self.source(text)))}

    def decode(self, loop, source):
        """ids [batch, max_length] of `source` by the loop called `loop`; compiled, over the fixed shapes (above)."""
        if not self.compiled:
            return self.loops[loop](source)

        def compiled():
            padded, rows = pad_to_bucket(source, [self.max_length])
            return self.compiled_loops[loop](padded, rows)[:rows]

        return tf.cond(tf.shape(source)[0] <= WARMUP_BATCHES[-1], compiled, lambda: self.loops[loop](source))

    def attention(self, text):
        source = self.source(text)
        ids, weights = greedy_decode(self.models, source, **self.loop_args)
        return {"translation": self.detokenize(ids), "attention": weights,
                "source_tokens": self.source_subwords.pieces(source),
                "target_tokens": self.target_subwords.pieces(ids)}

    def detokenize(self, ids):
        """ids [batch, steps] -> one string per row (padding and markers dropped, pieces joined as written)."""
        return self.target_subwords.detokenize(ids)

    def functions(self):
        """{signature name: tf.function taking a batch of strings}, for evaluation in process."""
        spec = [tf.TensorSpec([None], tf.string, name="text")]
        return {name: tf.function(fn, input_signature=spec) for name, fn in zip(
            SIGNATURES, (self.greedy, self.beam, self.attention))}


def text_model(network, source_subwords, target_subwords, max_length):
    """The trained seq2seq with both tokenizers inside, as it was trained (teacher forcing): `text` (sources) and
    `target_text` (their translations), strings [batch] -> logits [batch, target steps, target vocabulary] of each
    next target piece ([END] last). What `model.keras` holds: it scores or fine-tunes on raw sentence pairs, and
    `translator_from_export` decodes with it."""
    text = keras.Input(shape=(), dtype="string", name="text")
    target_text = keras.Input(shape=(), dtype="string", name="target_text")
    source = SubwordIds(source_subwords.model, max_length, refuse_unknown_script=True, name="source_subwords")(text)
    target = SubwordIds(target_subwords.model, max_length + 1, name="target_subwords")(target_text)
    logits = network({"tokens": source, "previous_tokens": decoder_inputs(target, END_ID)})  # the target shifted right
    return keras.Model({"text": text, "target_text": target_text}, logits, name="translation")


def write_export(directory, translator, *, extras, example, compiled=False):
    """Write the SavedModel into `directory`; `extras` ({file name: dict, or a path to copy}), both SentencePiece
    models, the trained model (`model.keras`) and the warm-up records of `example` (a source sentence of the
    training data) go to `directory/assets.extra/`. `compiled`: greedy and beam search XLA-compiled (above)."""
    translator = translator.with_compiled_loops(compiled)
    archive = keras.export.ExportArchive()
    for tracked in (translator.model, translator.models["encode"], translator.models["decode_step"],
                    translator.source_subwords.tokenizer, translator.target_subwords.tokenizer):
        archive.track(tracked)
    spec = [tf.TensorSpec([None], tf.string, name="text")]
    for name, fn in zip(SIGNATURES, (translator.greedy, translator.beam, translator.attention)):
        add_endpoint_traced_once(archive, name, fn, spec)
    archive.write_out(str(directory), verbose=False)
    extra = Path(directory) / "assets.extra"
    extra.mkdir()
    text_model(translator.model, translator.source_subwords, translator.target_subwords,
               translator.max_length).save(extra / "model.keras")
    translator.source_subwords.write(extra / "source.spm")
    translator.target_subwords.write(extra / "target.spm")
    # every compiled shape (a batch of each size; sources are padded to one length), and one and 8 rows elsewhere
    write_warmup_requests(extra / WARMUP_FILE, [
        *example_warmup_requests({name: {"text": example} for name in COMPILED_SIGNATURES},
                                 rows=WARMUP_BATCHES if compiled else EXAMPLE_WARMUP_ROWS),
        *example_warmup_requests({"attention": {"text": example}})])
    write_extras(extra, extras)


def translator_from_export(path, *, beam_width=1):
    """A `Translator` over an export's `model.keras`, its network and tokenizers (`path`: a version folder)."""
    extra = Path(path) / "assets.extra"
    model = keras.models.load_model(extra / "model.keras")
    if "source_subwords" not in [layer.name for layer in model.layers]:  # an export from before the tokenizers moved
        # into model.keras: the bare network, with the SentencePiece files beside it
        return Translator(model, Subwords.read(extra / "source.spm"), Subwords.read(extra / "target.spm"),
                          max_length=json.loads((extra / "config.json").read_text())["max_length"],
                          beam_width=beam_width)
    source, target = model.get_layer("source_subwords"), model.get_layer("target_subwords")
    return Translator(model.get_layer("seq2seq"), source.subwords, target.subwords, max_length=source.max_length,
                      beam_width=beam_width)


def load_export(path, signature="serving_default"):
    """One signature of a translation export. `path` is a version folder, or a model folder (newest version)."""
    import tensorflow_text  # noqa: F401  (registers the SentencePiece ops the export's graph uses)

    path = version_folder(path, "translation")
    loaded = tf.saved_model.load(str(path))
    if signature not in loaded.signatures or "text" not in loaded.signatures[signature].structured_input_signature[1]:
        raise UserError(f"{path} has no '{signature}' signature taking 'text'; it is not a translation export.")
    return loaded.signatures[signature]


def translate_texts(signature, texts, batch_size=256, *, skip_refused=False):
    """Translations of a list of strings, in batches, through an exported signature or a `Translator` function.
    A text in a script the model never saw is a UserError that quotes it; with `skip_refused` its translation is
    None instead (for scoring a test set, where one such pair must not stop the run)."""
    answers = answers_in_batches(lambda batch: signature(text=batch), texts, batch_size, skip_refused=skip_refused)
    return [None if answer is None else answer["translation"].decode("utf-8") for answer in answers]
