"""PyTorch versions of the recipes' models, for the benches only (PyTorch is not a dependency of the package:
`pip install torch==2.13.0` on this machine takes the CPU wheel it holds).

Each takes the same batches our tf.data pipeline makes (numpy arrays, 0 = padding, right-padded) and trains with the
same optimizer, so a samples/s ratio compares the frameworks, not the data handling.
"""

import time

import numpy as np
import torch
from torch import nn


class SentimentLSTM(nn.Module):
    """The sentiment recipe's default model: Embedding -> dropout -> BiLSTM over the real words only -> max over the
    real steps -> one logit.

    Exact masking without packing: the batches are right-padded, so the forward LSTM's outputs at real steps never
    see padding, and the backward LSTM reads each review reversed within its own length (padding after it), then its
    outputs are put back in place. (`pack_padded_sequence` gives the same result but its backward pass took 3.9 s
    per 64 x 400 batch on this CPU against 0.27 s for the plain layer, so it would not be a fair contender.)
    """

    def __init__(self, vocab_size, embedding_dim=64, units=64, dropout=0.5):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.dropout = nn.Dropout(dropout)
        self.forward_lstm = nn.LSTM(embedding_dim, units, batch_first=True)
        self.backward_lstm = nn.LSTM(embedding_dim, units, batch_first=True)
        self.head = nn.Linear(2 * units, 1)

    def forward(self, ids):
        real = ids != 0
        reverse = reversed_within_length(real.sum(dim=1), ids.shape[1])
        x = self.dropout(self.embedding(ids))
        forward_out, _ = self.forward_lstm(x)
        backward_out, _ = self.backward_lstm(reverse(x))
        outputs = torch.cat([forward_out, reverse(backward_out)], dim=-1)
        outputs = outputs.masked_fill(~real.unsqueeze(-1), float("-inf"))
        return self.head(outputs.max(dim=1).values)[:, 0]


def train_epochs(model, epochs_of_batches):
    """Train on each epoch's list of (ids, labels) numpy batches; returns (seconds, samples) per epoch."""
    torch.set_flush_denormal(True)  # as TF does on CPU: denormals in the LSTM gates otherwise cost up to 10x
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    model.train()
    timings = []
    for batches in epochs_of_batches:
        started, samples = time.perf_counter(), 0
        for ids, labels in batches:
            optimizer.zero_grad()
            loss = loss_fn(model(torch.from_numpy(ids).long()), torch.from_numpy(labels).float())
            loss.backward()
            optimizer.step()
            samples += len(ids)
        timings.append((time.perf_counter() - started, samples))
    return timings


def predict_latency(model, ids, repeats):
    """Median seconds of one forward pass on `ids` (inference mode)."""
    model.eval()
    tensor = torch.from_numpy(np.asarray(ids)).long()
    times = []
    with torch.inference_mode():
        for _ in range(repeats):
            started = time.perf_counter()
            torch.sigmoid(model(tensor))
            times.append(time.perf_counter() - started)
    return float(np.median(times))


def sentiment_from_keras(model):
    """A SentimentLSTM holding the weights of the zoo's many_to_one BiLSTM `model` (same gate order: i, f, g, o)."""
    embeddings = model.get_layer("embedding").embeddings.numpy()
    units = model.get_layer("rnn_0").forward_layer.units
    torch_model = SentimentLSTM(embeddings.shape[0], embeddings.shape[1], units, dropout=0.0)
    as_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    with torch.no_grad():
        torch_model.embedding.weight.copy_(as_tensor(embeddings))
        bidirectional = model.get_layer("rnn_0")
        for lstm, layer in ((torch_model.forward_lstm, bidirectional.forward_layer),
                            (torch_model.backward_lstm, bidirectional.backward_layer)):
            kernel, recurrent, bias = (w.numpy() for w in layer.cell.weights)
            lstm.weight_ih_l0.copy_(as_tensor(kernel.T))
            lstm.weight_hh_l0.copy_(as_tensor(recurrent.T))
            lstm.bias_ih_l0.copy_(as_tensor(bias))
            lstm.bias_hh_l0.zero_()
        dense_kernel, dense_bias = (w.numpy() for w in model.get_layer("outputs").weights)
        torch_model.head.weight.copy_(as_tensor(dense_kernel.T))
        torch_model.head.bias.copy_(as_tensor(dense_bias))
    return torch_model.eval()


def reversed_within_length(lengths, steps):
    """A function reversing each row of [batch, time, ...] within its first `lengths` steps (padding stays after):
    its own inverse. How the PyTorch contenders mask a backward recurrence exactly without packing."""
    positions = torch.arange(steps).unsqueeze(0)
    mirrored = lengths.unsqueeze(1) - 1 - positions
    order = torch.where(mirrored >= 0, mirrored, positions)
    return lambda t: t.gather(1, order.unsqueeze(-1).expand_as(t))


class Seq2SeqGRU(nn.Module):
    """The translation recipe's default seq2seq, in PyTorch: a BiGRU encoder over the real source steps, a tanh bridge
    from its two final states to the GRU decoder's first, additive attention (Keras's AdditiveAttention: scores
    sum(scale * tanh(query + key)), keys and values the encoder outputs projected without bias, padded source steps
    masked) after the decoder, a linear combine of context and decoder output, and logits over the target vocabulary.
    Dropout on the recurrent layers' inputs. PyTorch's GRU applies the reset gate after the recurrent product, as
    Keras's default (reset_after=True) does."""

    def __init__(self, source_vocab, target_vocab, embedding_dim=128, units=256, dropout=0.2):
        super().__init__()
        self.source_embedding = nn.Embedding(source_vocab, embedding_dim, padding_idx=0)
        self.target_embedding = nn.Embedding(target_vocab, embedding_dim, padding_idx=0)
        self.dropout = nn.Dropout(dropout)
        self.forward_gru = nn.GRU(embedding_dim, units, batch_first=True)
        self.backward_gru = nn.GRU(embedding_dim, units, batch_first=True)
        self.bridge = nn.Linear(2 * units, units)
        self.memory = nn.Linear(2 * units, units, bias=False)
        self.decoder = nn.GRU(embedding_dim, units, batch_first=True)
        self.scale = nn.Parameter(torch.ones(units) / units ** 0.5)
        self.combine = nn.Linear(2 * units, units)
        self.logits = nn.Linear(units, target_vocab)

    def forward(self, source, previous, real_steps=False):
        """Logits [batch, target steps, vocabulary]; with `real_steps`, [real target steps, vocabulary] (the steps
        whose previous token is not padding, row-major), the padded steps' logits never computed."""
        real = source != 0
        lengths = real.sum(dim=1).clamp(min=1)
        reverse = reversed_within_length(lengths, source.shape[1])
        x = self.dropout(self.source_embedding(source))
        forward_out, _ = self.forward_gru(x)
        backward_out, _ = self.backward_gru(reverse(x))
        last = (lengths - 1).view(-1, 1, 1).expand(-1, 1, forward_out.shape[-1])
        final = torch.cat([forward_out.gather(1, last), backward_out.gather(1, last)], dim=-1)[:, 0]
        memory = self.memory(torch.cat([forward_out, reverse(backward_out)], dim=-1))  # [batch, source, units]
        decoded, _ = self.decoder(self.dropout(self.target_embedding(previous)),
                                  torch.tanh(self.bridge(final)).unsqueeze(0))
        scores = (self.scale * torch.tanh(decoded.unsqueeze(2) + memory.unsqueeze(1))).sum(-1)
        weights = torch.softmax(scores.masked_fill(~real.unsqueeze(1), -1e9), dim=-1)
        context = weights @ memory
        combined = self.combine(torch.cat([context, decoded], dim=-1))
        return self.logits(combined[previous != 0] if real_steps else combined)


def train_seq2seq_epochs(model, epochs_of_batches, learning_rate=1e-3, real_steps=False):
    """Train on each epoch's list of (source, previous tokens, labels) numpy batches with teacher forcing, the loss
    over real target tokens (with `real_steps` the logits of the others are not computed), each gradient clipped to
    norm 1 (Keras's clipnorm); returns (seconds, pairs) per epoch."""
    torch.set_flush_denormal(True)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    loss_fn = nn.CrossEntropyLoss(ignore_index=0)
    model.train()
    timings = []
    for batches in epochs_of_batches:
        started, samples = time.perf_counter(), 0
        for source, previous, labels in batches:
            optimizer.zero_grad()
            previous = torch.from_numpy(previous).long()
            logits = model(torch.from_numpy(source).long(), previous, real_steps=real_steps)
            labels = torch.from_numpy(labels).long()
            if real_steps:
                loss = loss_fn(logits, labels[previous != 0])
            else:
                loss = loss_fn(logits.flatten(0, 1), labels.flatten())
            loss.backward()
            for parameter in model.parameters():
                nn.utils.clip_grad_norm_(parameter, 1.0)
            optimizer.step()
            samples += len(source)
        timings.append((time.perf_counter() - started, samples))
    return timings


class CharLSTM(nn.Module):
    """The generation recipe's model: Embedding -> stacked LSTMs, dropout on each one's inputs -> next-character
    logits at every step, the state carried from chunk to chunk (truncated BPTT)."""

    def __init__(self, vocab_size, embedding_dim=64, units=512, num_layers=2, dropout=0.25):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.dropout = nn.Dropout(dropout)
        self.lstms = nn.ModuleList([nn.LSTM(embedding_dim if layer == 0 else units, units, batch_first=True)
                                    for layer in range(num_layers)])
        self.logits = nn.Linear(units, vocab_size)

    def forward(self, ids, states):
        x, carried = self.embedding(ids), []
        for lstm, state in zip(self.lstms, states, strict=True):
            x, state = lstm(self.dropout(x), state)
            carried.append(tuple(part.detach() for part in state))  # truncated: no gradient into the last chunk
        return self.logits(x), carried


def tbptt_trainer(model, learning_rate=2e-3, clipnorm=5.0):
    """A function training `model` on one (inputs, targets) numpy chunk a call, chunks in stream order with the
    state carried between calls, each gradient clipped to `clipnorm` (Keras's clipnorm); it returns the loss."""
    torch.set_flush_denormal(True)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    model.train()
    states = [None] * len(model.lstms)

    def step(inputs, targets):
        nonlocal states
        optimizer.zero_grad()
        logits, states = model(torch.from_numpy(inputs).long(), states)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), torch.from_numpy(targets).long().flatten())
        loss.backward()
        for parameter in model.parameters():
            nn.utils.clip_grad_norm_(parameter, clipnorm)
        optimizer.step()
        return loss.item()

    return step
