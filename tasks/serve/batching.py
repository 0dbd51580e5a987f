"""Server-side batching: concurrent requests to one signature become one model call (TF Serving's
`--enable_batching`), which spreads the fixed cost of a call over many rows.

A batch opens with its first request and runs when `window_s` has passed or it holds `max_batch_size` rows,
whichever comes first. Only requests whose inputs agree in everything but the batch dimension are merged (same
model, version, signature, dtypes and per-row shapes). The merged call runs in a worker thread, off the event loop,
and each request gets back its own rows.
"""

import asyncio
import dataclasses

import numpy as np


@dataclasses.dataclass
class _Batch:
    call: callable
    items: list = dataclasses.field(default_factory=list)  # (inputs, rows, future)
    rows: int = 0
    timer: asyncio.TimerHandle | None = None


def batch_key(model_key, inputs):
    """Requests with the same key can be concatenated along the batch axis."""
    return (model_key, tuple((name, array.dtype.str, array.shape[1:]) for name, array in sorted(inputs.items())))


def row_count(inputs):
    return len(next(iter(inputs.values())))


class Batcher:
    """`await submit(key, call, inputs)` runs `call(inputs)` (blocking, returns {name: array}), merged with
    other submissions of the same key that arrive within the window."""

    def __init__(self, *, window_s, max_batch_size):
        self.window_s = window_s
        self.max_batch_size = max_batch_size
        self._open = {}  # key -> the _Batch still taking requests
        self.calls = 0  # model calls made, for logs and tests

    async def submit(self, key, call, inputs):
        rows = row_count(inputs)
        if rows >= self.max_batch_size:  # already a full batch: nothing to wait for
            self.calls += 1
            return await asyncio.to_thread(call, inputs)
        batch = self._open.get(key)
        if batch is not None and batch.rows + rows > self.max_batch_size:
            self._start(key, batch)
            batch = None
        if batch is None:
            batch = self._open[key] = _Batch(call)
            batch.timer = asyncio.get_running_loop().call_later(self.window_s, self._start, key, batch)
        future = asyncio.get_running_loop().create_future()
        batch.items.append((inputs, rows, future))
        batch.rows += rows
        if batch.rows >= self.max_batch_size:
            self._start(key, batch)
        return await future

    def _start(self, key, batch):
        if self._open.get(key) is batch:
            del self._open[key]
            batch.timer.cancel()
            asyncio.ensure_future(self._run(batch))

    async def _run(self, batch):
        names = batch.items[0][0].keys()
        merged = {name: np.concatenate([inputs[name] for inputs, _, _ in batch.items]) for name in names}
        self.calls += 1
        try:
            outputs = await asyncio.to_thread(batch.call, merged)
        except Exception as error:
            for _, _, future in batch.items:
                future.set_exception(error)
            return
        if any(np.ndim(out) == 0 or len(out) != batch.rows for out in outputs.values()):
            # An output that is not one row per input row cannot be split: answer each request on its own.
            for inputs, _, future in batch.items:
                self.calls += 1
                try:
                    future.set_result(await asyncio.to_thread(batch.call, inputs))
                except Exception as error:
                    future.set_exception(error)
            return
        start = 0
        for _, rows, future in batch.items:
            future.set_result({name: out[start:start + rows] for name, out in outputs.items()})
            start += rows
