"""Translation quality with sacreBLEU (corpus BLEU and chrF, one reference per pair), and attention heatmaps."""

import time

import numpy as np
import sacrebleu

from tasks.common.cli import UserError
from tasks.common.reports import plt
from tasks.translation.serving import translate_texts


def score_translations(hypotheses, references):
    """Corpus BLEU and chrF of `hypotheses` against `references` (lists of strings, one reference each).

    `bleu` and `chrf` are sacreBLEU's defaults, case-sensitive (the figures papers report); `bleu_lowercase` is the
    case-insensitive BLEU, comparable with lowercasing systems. The signatures say which is which.
    """
    bleu, bleu_lowercase = sacrebleu.metrics.BLEU(), sacrebleu.metrics.BLEU(lowercase=True)
    chrf = sacrebleu.metrics.CHRF()
    return {
        "bleu": float(bleu.corpus_score(hypotheses, [references]).score),
        "bleu_lowercase": float(bleu_lowercase.corpus_score(hypotheses, [references]).score),
        "chrf": float(chrf.corpus_score(hypotheses, [references]).score),
        "bleu_signature": str(bleu.get_signature()),
        "bleu_lowercase_signature": str(bleu_lowercase.get_signature()),
    }


def translate_and_score(decoders, pairs):
    """Translate the sources of `pairs` with each of `decoders` ({name: signature or `Translator` function}) and score
    them against the targets. A pair whose source the model refuses (mostly in characters no training sentence had)
    is left out for every decoder and counted, so one such line in a test file never stops a run.

    Returns (metrics {"pairs": scored, "refused": left out, name: scores + decode_seconds}, {name: translations},
    the scored pairs)."""
    metrics, decoded = {}, {}
    for name, decoder in decoders.items():
        started = time.perf_counter()
        translations = translate_texts(decoder, [source for source, _ in pairs], skip_refused=True)
        seconds = time.perf_counter() - started
        if not decoded:  # the first decoder finds the refused sources; the others see only the rest
            pairs = [pair for pair, translation in zip(pairs, translations) if translation is not None]
            metrics = {"pairs": len(pairs), "refused": len(translations) - len(pairs)}
            if not pairs:
                raise UserError(f"all {metrics['refused']} source sentences to score are written mostly in "
                                "characters no training sentence had: there is nothing to score.")
        decoded[name] = [translation for translation in translations if translation is not None]
        metrics[name] = {**score_translations(decoded[name], [target for _, target in pairs]),
                         "decode_seconds": seconds}
    return metrics, decoded, pairs


def plot_attention(attention, path, title):
    """One heatmap per sentence: target words (rows) against source words (columns), from an `attention` output."""
    sentences = len(attention["translation"])
    fig, axes = plt.subplots(1, sentences, figsize=(4.2 * sentences, 4.2), squeeze=False)
    for ax, weights, source, target in zip(axes[0], np.asarray(attention["attention"]),
                                           attention["source_tokens"].numpy(), attention["target_tokens"].numpy()):
        source = [w.decode() for w in source if w]
        target = [w.decode() for w in target if w]
        ax.imshow(weights[:len(target), :len(source)], cmap="viridis", vmin=0, vmax=1)
        ax.set_xticks(range(len(source)), source, rotation=90, fontsize=7)
        ax.set_yticks(range(len(target)), target, fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
