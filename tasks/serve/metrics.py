"""Prometheus metrics in the text exposition format, under the names TF Serving's exporter gives them
(`/tensorflow/serving/request_count` is written `:tensorflow:serving:request_count`).

- `:tensorflow:serving:request_count{model_name,status}`: requests answered, by TF Serving status code
- `:tensorflow:serving:request_latency{model_name,API,entrypoint}`: histogram, microseconds
- `:tensorflow:serving:batching_session:batch_size`: histogram of rows per model call (batching on)
- `:tensorflow:cc:saved_model:load_attempt_count{model_path,status}`: version loads, "success" or "fail"
"""

import bisect
import collections
import threading

LATENCY_BUCKETS_US = [10 * 1.8 ** i for i in range(33)]  # 10 us .. ~1.5e9 us, as TF Serving's exponential buckets
BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]


class _Histogram:
    def __init__(self, bounds):
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value):
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value

    def lines(self, name, labels):
        cumulative, out = 0, []
        for bound, count in zip([*self.bounds, float("inf")], self.counts):
            cumulative += count
            le = "+Inf" if bound == float("inf") else f"{bound:.6g}"
            out.append(f"{name}_bucket{_labels({**labels, 'le': le})} {cumulative}")
        out.append(f"{name}_sum{_labels(labels)} {self.sum:.6g}")
        out.append(f"{name}_count{_labels(labels)} {cumulative}")
        return out


def _labels(labels):
    if not labels:
        return ""
    escaped = (f'{k}="{str(v).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
               for k, v in labels.items())
    return "{" + ",".join(escaped) + "}"


class Metrics:
    """Thread-safe counters and histograms, rendered by `page()`."""

    def __init__(self):
        self._lock = threading.Lock()
        self._requests = collections.Counter()  # (model, status code) -> count
        self._latency = {}  # (model, api) -> _Histogram
        self._batches = _Histogram(BATCH_BUCKETS)
        self._loads = collections.Counter()  # (path, status) -> count

    def request(self, model, api, code, seconds):
        with self._lock:
            self._requests[(model, code)] += 1
            if code == "OK":
                self._latency.setdefault((model, api), _Histogram(LATENCY_BUCKETS_US)).observe(seconds * 1e6)

    def batch(self, rows):
        with self._lock:
            self._batches.observe(rows)

    def load(self, path, ok):
        with self._lock:
            self._loads[(str(path), "success" if ok else "fail")] += 1

    def page(self):
        with self._lock:
            out = ["# TYPE :tensorflow:serving:request_count counter"]
            out += [f":tensorflow:serving:request_count{_labels({'model_name': m, 'status': c})} {n}"
                    for (m, c), n in sorted(self._requests.items())]
            out.append("# TYPE :tensorflow:serving:request_latency histogram")
            for (model, api), histogram in sorted(self._latency.items()):
                out += histogram.lines(":tensorflow:serving:request_latency",
                                       {"model_name": model, "API": api, "entrypoint": "REST"})
            out.append("# TYPE :tensorflow:serving:batching_session:batch_size histogram")
            out += self._batches.lines(":tensorflow:serving:batching_session:batch_size", {})
            out.append("# TYPE :tensorflow:cc:saved_model:load_attempt_count counter")
            out += [f":tensorflow:cc:saved_model:load_attempt_count{_labels({'model_path': p, 'status': s})} {n}"
                    for (p, s), n in sorted(self._loads.items())]
        return "\n".join(out) + "\n"
