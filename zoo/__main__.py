"""`python -m zoo`: build every pattern with every cell and print a table of parameter counts."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import zoo  # noqa: E402  (after the log level is set)

EXAMPLES = {
    "one_to_one": dict(feature_dim=16, num_outputs=3),
    "one_to_many": dict(feature_dim=16, num_outputs=30, decoder="autoregressive"),
    "many_to_one": dict(input="tokens", vocab_size=20000, num_outputs=2, bidirectional=True, num_layers=2),
    "many_to_many": dict(input="frames", frame_shape=(32, 32, 1), num_outputs=4, bidirectional=True),
    "seq2seq": dict(input="tokens", vocab_size=8000, target_vocab_size=8000, bidirectional=True),
}


def main():
    cells = ("simple_rnn", "lstm", "gru")
    print(f"{'pattern':14}" + "".join(f"{c:>12}" for c in cells) + "   example config")
    for name in zoo.list_models():
        counts = [zoo.build(name, cell=cell, units=64, **EXAMPLES[name]).count_params() for cell in cells]
        print(f"{name:14}" + "".join(f"{n:>12,}" for n in counts) + f"   {EXAMPLES[name]}")


if __name__ == "__main__":
    main()
