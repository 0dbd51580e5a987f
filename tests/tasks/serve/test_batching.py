"""Batching and splitting without a server: which requests merge, how rows group by length, answers stay apart."""

import asyncio

import numpy as np

from tasks.serve.batching import Batcher, batch_key, join_rows, split_rows, take_rows


def strings(*texts):
    array = np.empty(len(texts), dtype=object)
    array[:] = [t.encode() for t in texts]
    return array


def test_batcher_merges_concurrent_submissions_and_splits_the_answers():
    calls = []

    def double(inputs):
        calls.append(len(inputs["x"]))
        return {"y": inputs["x"] * 2}

    async def scenario():
        batcher = Batcher(window_s=0.05, max_batch_size=4)
        requests = [{"x": np.float32([[i, i]])} for i in range(6)] + [{"x": np.float32([[9, 9]] * 5)}]
        return await asyncio.gather(*(batcher.submit(batch_key("m", r), double, r) for r in requests))

    answers = asyncio.run(scenario())
    assert [a["y"].tolist() for a in answers[:6]] == [[[2 * i, 2 * i]] for i in range(6)]
    assert answers[6]["y"].shape == (5, 2)
    assert sorted(calls) == [2, 4, 5]  # 4 rows fill a batch; the other 2 wait out the window; 5 rows run alone


def test_requests_whose_inputs_differ_in_leading_size_are_never_merged():
    # Columnar requests may feed inputs of different sizes: merging two of them would mix clients' rows.
    assert batch_key("m", {"a": np.zeros((2, 3)), "b": np.zeros((1, 3))}) is None
    assert batch_key("m", {"a": np.float32(1.0)}) is None
    assert batch_key("m", {"a": np.zeros((2, 3))}) != batch_key("m", {"a": np.zeros((2, 4))})


def test_strings_of_any_length_merge_and_each_call_takes_rows_of_similar_length():
    assert batch_key("m", {"t": strings("a fine film")}) == batch_key("m", {"t": strings("x" * 5000)})
    texts = [("y" * (10 + i % 5)) for i in range(30)] + [("z" * (3000 + i)) for i in range(10)]
    chunks = split_rows({"t": strings(*texts)}, max_padded_elements=10 ** 9, min_rows=8)
    assert chunks is not None and sorted(np.concatenate(chunks).tolist()) == list(range(40))
    for index in chunks:  # short and long reviews never share a call; each call wastes at most half its padding
        lengths = [len(texts[i]) for i in index]
        assert max(lengths) * len(lengths) <= 2 * sum(lengths)
    same = strings(*(["w" * 100] * 32))
    assert split_rows({"t": same}, max_padded_elements=10 ** 9) is None  # nothing to gain: one call


def test_an_idle_batcher_answers_after_its_window_and_a_busy_one_grows_its_batches():
    calls = []

    def slow(inputs):
        import time

        calls.append(len(inputs["x"]))
        time.sleep(0.05)
        return {"y": inputs["x"]}

    async def scenario():
        batcher = Batcher(window_s=0.001, max_batch_size=64, num_threads=1)
        first = asyncio.ensure_future(batcher.submit("k", slow, {"x": np.zeros((1, 1))}))
        await asyncio.sleep(0.01)  # the first call is running; the next 20 wait for the thread, in one batch
        rest = [batcher.submit("k", slow, {"x": np.zeros((1, 1))}) for _ in range(20)]
        await asyncio.gather(first, *rest)

    asyncio.run(scenario())
    assert calls == [1, 20]


def test_a_large_request_is_split_by_length_and_answered_in_order():
    texts = [f"review {i}" for i in range(4000)] + ["x" * 100000]
    inputs = {"t": strings(*texts), "w": np.arange(len(texts), dtype=np.float32)}
    chunks = split_rows(inputs, max_padded_elements=200000, max_waste=10 ** 9)  # memory alone cuts here
    assert chunks is not None and sorted(np.concatenate(chunks).tolist()) == list(range(len(texts)))
    for index in chunks:  # no call pads many short rows to the long one
        lengths = [len(texts[i]) for i in index]
        assert len(index) * (max(lengths) + 1) <= 200000 or len(index) == 1
    parts = [{"n": take_rows(inputs, index)["w"] * 2} for index in chunks]
    joined = join_rows(parts, chunks, len(texts))
    np.testing.assert_array_equal(joined["n"], inputs["w"] * 2)
    assert split_rows({"t": strings("a", "b")}, max_padded_elements=100) is None  # small: one call
    assert join_rows([{"s": np.float32(1)}], [np.arange(2)], 2) is None  # not one row per row: run whole


def test_a_request_that_gives_up_does_not_stop_the_others_in_its_batch():
    def slow(inputs):
        import time

        time.sleep(0.1)
        return {"y": inputs["x"] + 1}

    async def scenario():
        batcher = Batcher(window_s=0.01, max_batch_size=8)
        impatient = asyncio.ensure_future(asyncio.wait_for(batcher.submit("k", slow, {"x": np.zeros((1, 1))}), 0.05))
        await asyncio.sleep(0)  # the impatient request is first in the batch
        patient = asyncio.ensure_future(batcher.submit("k", slow, {"x": np.ones((1, 1))}))
        return await asyncio.wait_for(asyncio.gather(impatient, patient, return_exceptions=True), 5)

    gave_up, answer = asyncio.run(scenario())
    assert isinstance(gave_up, asyncio.TimeoutError) and answer["y"].tolist() == [[2.0]]
