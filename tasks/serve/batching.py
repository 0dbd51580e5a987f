"""Grouping rows into model calls: server-side batching of concurrent requests (TF Serving's `--enable_batching`)
and splitting of one large request, both by rows of similar length.

Only row-aligned inputs are ever merged or split: every input with the same leading size (the rows), and requests
merged only when everything but that size agrees (model, version, signature, dtypes, per-row shapes). A merged
batch (or one large request) is then cut into calls of rows of similar length (`split_rows`): sorted by length,
a call grows while padding wastes at most half its values, so a batch of short reviews is never padded to one long
review, yet calls stay large enough to use the machine. Each request gets back exactly its own rows.

Batches adapt to load: a batch closes when it is full, or when its window has passed *and* a model thread is free;
while every thread is busy, open batches keep taking requests, so a loaded server runs few large calls (a batch of
32 reviews costs about a twelfth per review of 32 single calls) and an idle one answers after the window.
"""

import asyncio
import dataclasses

import numpy as np

from tasks.serve.errors import ServingError


def row_count(inputs):
    """The rows shared by every input, or None when the inputs do not share a leading size (columnar requests may
    feed tensors of different sizes, which must never be merged or split)."""
    sizes = {np.shape(a)[0] if np.ndim(a) else None for a in inputs.values()}
    return sizes.pop() if len(sizes) == 1 and None not in sizes else None


def _row_lengths(array):
    """Bytes per row of a string input (the longest string in the row), or None for other dtypes."""
    if array.dtype != object:
        return None
    flat = array.reshape(len(array), -1)
    return np.array([max((len(s) for s in row), default=0) for row in flat])


def batch_key(model_key, inputs):
    """Requests with equal keys can be concatenated along their rows; None: this one must run alone."""
    if not inputs or row_count(inputs) in (None, 0):
        return None
    return (model_key, tuple((name, array.dtype.str, array.shape[1:]) for name, array in sorted(inputs.items())))


def split_rows(inputs, max_padded_elements, min_rows=8, max_waste=2.0):
    """Index arrays that cut a request's rows into calls of rows of similar length: each call holds at most
    `max_padded_elements` padded elements (strings count their bytes), and grows past `min_rows` only while its
    padded size stays within `max_waste` times its real size. None when one call is right, or the inputs are not
    row-aligned."""
    rows = row_count(inputs)
    if not rows or rows == 1:
        return None
    per_row = np.zeros(rows, dtype=np.int64)
    for array in inputs.values():
        lengths = _row_lengths(array)
        width = int(np.prod(array.shape[1:], dtype=np.int64))
        per_row += width * (np.maximum(lengths, 1) if lengths is not None else 1)
    longest = int(per_row.max())
    if rows * longest <= max_padded_elements and rows * longest <= max_waste * int(per_row.sum()):
        return None
    order = np.argsort(per_row, kind="stable")
    costs = per_row[order]
    chunks, start = [], 0
    while start < rows:
        end, real = start + 1, int(costs[start])  # sorted by cost: row `end` is the longest of [start, end]
        while end < rows:
            padded = (end + 1 - start) * int(costs[end])
            if padded > max_padded_elements or (end - start >= min_rows and padded > max_waste * (real + costs[end])):
                break
            real += int(costs[end])
            end += 1
        chunks.append(order[start:end])
        start = end
    return chunks if len(chunks) > 1 else None


def take_rows(inputs, index):
    return {name: array[index] for name, array in inputs.items()}


def join_rows(parts, indexes, rows):
    """The outputs of the calls on `indexes` put back in request order; None if an output is not one row per
    input row (then the request must run whole)."""
    joined = {}
    for name in parts[0]:
        if any(np.ndim(p[name]) == 0 or len(p[name]) != len(i) for p, i in zip(parts, indexes)):
            return None
        first = parts[0][name]
        out = np.empty((rows, *first.shape[1:]), dtype=first.dtype)
        for part, index in zip(parts, indexes):
            if part[name].shape[1:] != first.shape[1:]:
                return None  # per-row shapes differ between calls (e.g. padded to each call's longest row)
            out[index] = part[name]
        joined[name] = out
    return joined


@dataclasses.dataclass
class _Batch:
    call: callable
    items: list = dataclasses.field(default_factory=list)  # (inputs, rows, future)
    rows: int = 0
    timer: asyncio.TimerHandle | None = None
    due: bool = False  # its window has passed: it runs as soon as a thread is free


class Batcher:
    """`await submit(key, call, inputs)` runs `call(inputs)` (blocking, returns {name: array}), merged with other
    submissions of the same key that arrive within `window_s`, at most `max_batch_size` rows a call and
    `num_threads` calls at once. Past `max_queued_batches` batches waiting, a request is refused with 503."""

    def __init__(self, *, window_s, max_batch_size, num_threads=2, max_queued_batches=100, on_call=None):
        self.window_s = window_s
        self.max_batch_size = max_batch_size
        self.max_queued_batches = max_queued_batches
        self.num_threads = num_threads
        self._threads = asyncio.Semaphore(num_threads)
        self._open = {}  # key -> the _Batch still taking requests
        self._waiting = 0  # batches closed but not yet running
        self._busy = 0  # model calls running
        self._on_call = on_call or (lambda rows: None)  # told the rows of every call (the metrics)

    async def submit(self, key, call, inputs):
        rows = row_count(inputs)
        if key is None or rows >= self.max_batch_size:  # runs alone: nothing to merge it with
            return await self._run_alone(call, inputs, rows)
        batch = self._open.get(key)
        if batch is not None and batch.rows + rows > self.max_batch_size:
            self._close(key, batch)
            batch = None
        if batch is None:
            if self._waiting >= self.max_queued_batches:
                raise ServingError(503, f"the batching queue is full ({self.max_queued_batches} batches waiting); "
                                        "retry later", "UNAVAILABLE")
            batch = self._open[key] = _Batch(call)
            batch.timer = asyncio.get_running_loop().call_later(self.window_s, self._window_passed, key, batch)
        future = asyncio.get_running_loop().create_future()
        batch.items.append((inputs, rows, future))
        batch.rows += rows
        if batch.rows >= self.max_batch_size:
            self._close(key, batch)
        return await future

    async def _run_alone(self, call, inputs, rows):
        async with self._threads:
            return await self._call(call, inputs, rows or 0)

    async def _call(self, call, inputs, rows):
        self._busy += 1
        self._on_call(rows)
        try:
            return await asyncio.to_thread(call, inputs)
        finally:
            self._busy -= 1
            self._close_due()

    def _window_passed(self, key, batch):
        batch.due = True
        self._close_due()

    def _close_due(self):
        """Close the oldest batches whose window has passed, one for each free model thread."""
        for key, batch in list(self._open.items()):
            if self._busy + self._waiting >= self.num_threads:
                return
            if batch.due:
                self._close(key, batch)

    def _close(self, key, batch):
        if self._open.get(key) is batch:
            del self._open[key]
            batch.timer.cancel()
            self._waiting += 1
            asyncio.ensure_future(self._run(batch))

    async def _run(self, batch):
        async with self._threads:
            self._waiting -= 1
            names = batch.items[0][0].keys()
            merged = {name: np.concatenate([inputs[name] for inputs, _, _ in batch.items]) for name in names}
            try:
                outputs = await self._call(batch.call, merged, batch.rows)
            except Exception as error:
                for _, _, future in batch.items:
                    _settle(future, error=error)
                return
        if any(np.ndim(out) == 0 or len(out) != batch.rows for out in outputs.values()):
            # An output that is not one row per input row cannot be split: answer each request on its own.
            for inputs, rows, future in batch.items:
                if future.done():
                    continue
                try:
                    _settle(future, await self._run_alone(batch.call, inputs, rows))
                except Exception as error:
                    _settle(future, error=error)
            return
        start = 0
        for _, rows, future in batch.items:
            _settle(future, {name: out[start:start + rows] for name, out in outputs.items()})
            start += rows


def _settle(future, result=None, error=None):
    """Answer a request's future, unless its request is gone (timed out or disconnected: the future is cancelled)."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
