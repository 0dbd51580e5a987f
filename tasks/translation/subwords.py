"""Subword tokenization for translation: a SentencePiece model learned from one side's training sentences, run in the
graph by tensorflow-text's `SentencepieceTokenizer`.

- Case is kept and no word is ever `[UNK]`: a word the model has not seen is spelled in smaller pieces, and a
  character it has not seen in its UTF-8 bytes (`byte_fallback`), so detokenizing gives the text back.
- Unicode normalization (SentencePiece's `nmt_nfkc` rule: NFKC plus whitespace clean-up) runs inside the op, so the
  SavedModel takes text as any client writes it (decomposed accents included).
- TensorFlow Serving links tensorflow-text's ops into its model server, so the export needs nothing of ours to serve.

Ids: 0 padding (Keras's mask), 1 `[UNK]` (never produced with byte fallback), 2 `[START]`, 3 `[END]`, then the 256
byte pieces, then the learned pieces.
"""

import base64
import hashlib
import io
from pathlib import Path

import keras
import tensorflow as tf

from tasks.common.cli import UserError
from tasks.common.text import require_known_characters

PAD_ID, UNK_ID, START_ID, END_ID = 0, 1, 2, 3
START, END = "[START]", "[END]"
FIRST_BYTE_ID, BYTE_PIECES = 4, 256  # byte_fallback puts <0x00> ... <0xFF> right after the control pieces


def learn_subwords(texts, vocab_size, seed):
    """A SentencePiece unigram model (serialized bytes) with at most `vocab_size` pieces, learned from `texts`."""
    import sentencepiece

    sentencepiece.set_random_generator_seed(seed)
    model = io.BytesIO()
    try:
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(texts), model_writer=model, vocab_size=vocab_size, model_type="unigram",
            pad_id=PAD_ID, unk_id=UNK_ID, bos_id=START_ID, eos_id=END_ID, pad_piece="[PAD]", unk_piece="[UNK]",
            bos_piece=START, eos_piece=END, byte_fallback=True, character_coverage=1.0,
            # A soft limit: a small training set may not hold vocab_size distinct pieces.
            hard_vocab_limit=False, normalization_rule_name="nmt_nfkc", num_threads=2, minloglevel=2)
    except RuntimeError as error:  # e.g. fewer pieces asked for than the characters that must be kept
        raise UserError(f"the subword vocabulary could not be learned with {vocab_size} pieces: {error}. Give a "
                        "larger --source-vocab-size/--target-vocab-size (at least 300: 256 byte pieces, 4 markers "
                        "and the common characters).") from None
    return model.getvalue()


class Subwords:
    """One side's tokenizer: strings -> ids [START] ... [END] and ids -> strings, all as TensorFlow ops."""

    def __init__(self, model):
        import tensorflow_text

        self.model = model
        # The op's kernel keeps its model in a resource shared by node name, and a reloaded SavedModel names every
        # tokenizer's node alike: without a name of its own, the target side would tokenize with the source model.
        # Named by content, two tokenizers share a resource only when they hold the same model.
        name = f"subwords_{hashlib.sha256(model).hexdigest()[:16]}"
        self.tokenizer = tensorflow_text.SentencepieceTokenizer(model=model, add_bos=True, add_eos=True, name=name)
        self.size = int(self.tokenizer.vocab_size())

    @classmethod
    def read(cls, path):
        return cls(Path(path).read_bytes())

    def write(self, path):
        Path(path).write_bytes(self.model)

    def tokenize(self, texts):
        """Ragged int32 ids [batch, (steps)] of a batch of strings; undecodable bytes are replaced, never an error."""
        texts = tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8", errors="replace")
        return tf.cast(self.tokenizer.tokenize(texts), tf.int32)

    def detokenize(self, ids):
        """One string per row of ids; padding and the markers are dropped (SentencePiece skips control pieces)."""
        return self.tokenizer.detokenize(ids)

    def pieces(self, ids):
        """The piece each id stands for (for attention plots); padding is the empty string."""
        return tf.where(ids > PAD_ID, self.tokenizer.id_to_string(ids), "")


def require_known_script(ids):
    """`ids` (a batch of source ids), once checked that no row is mostly raw bytes: characters no training sentence
    had, spelled in bytes (see `tasks.common.text.require_known_characters`)."""
    is_byte = (ids >= FIRST_BYTE_ID) & (ids < FIRST_BYTE_ID + BYTE_PIECES)
    # A character spelled in bytes is one lead byte followed by continuation bytes (0x80-0xBF): count lead bytes.
    continuation = is_byte & (ids >= FIRST_BYTE_ID + 0x80) & (ids < FIRST_BYTE_ID + 0xC0)
    return require_known_characters(ids, is_byte, (ids > END_ID) & ~continuation)


def cut(ids, max_length):
    """Ragged ids [START] ... [END] cut to `max_length`, keeping the final [END]."""
    return tf.concat([ids[:, :-1][:, :max_length - 1], ids[:, -1:]], axis=1)


@keras.saving.register_keras_serializable(package="tasks")
class SubwordIds(keras.layers.Layer):
    """Strings [batch] -> subword ids [batch, steps] ([START] pieces [END], cut to `max_length` with [END] kept, 0
    after each text's end): one side's tokenizer as a layer, so the translation `model.keras` takes raw text. The
    SentencePiece model (`model`: its bytes, or them in base64 as the saved config holds them) travels in the
    layer's config. `refuse_unknown_script`: refuse a text written mostly in bytes, as the export's source side."""

    def __init__(self, model, max_length, *, refuse_unknown_script=False, **kwargs):
        super().__init__(**kwargs)
        self.subwords = Subwords(base64.b64decode(model) if isinstance(model, str) else model)
        self.max_length, self.refuse_unknown_script = max_length, refuse_unknown_script

    def call(self, text):
        ids = cut(self.subwords.tokenize(text), self.max_length).to_tensor()
        return require_known_script(ids) if self.refuse_unknown_script else ids

    def compute_output_spec(self, text):
        return keras.KerasTensor((text.shape[0], None), dtype="int32")

    def get_config(self):
        return {**super().get_config(), "model": base64.b64encode(self.subwords.model).decode("ascii"),
                "max_length": self.max_length, "refuse_unknown_script": self.refuse_unknown_script}
