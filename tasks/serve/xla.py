"""Which signatures of a SavedModel run an XLA-compiled function, for TF Serving's `--xla_cpu_compilation_enabled`.

`tensorflow_model_server` disables XLA's just-in-time compilation unless that flag is given: a function saved with
`jit_compile=True` then fails on its first run with INTERNAL "XLA compilation disabled" (TensorFlow's
`DisableXlaCompilation`, called by TF Serving's main.cc), so a warm-up record that runs one fails the load, and a
request that reaches one fails. TensorFlow's Python API has no switch for that, so the server finds those signatures
in the MetaGraph instead: a function reached from a signature's outputs (through function-call nodes, loop bodies
and conditional branches) that carries `_XlaMustCompile`.
"""

XLA_DISABLED = "XLA compilation disabled"  # TF Serving's message (tensorflow/compiler/jit, FailOnXlaCompilation)


def signatures_running_xla(meta_graph):
    """The names of `meta_graph`'s signatures that reach a function XLA must compile."""
    functions = {f.signature.name: f for f in meta_graph.graph_def.library.function}
    nodes = {node.name: node for node in meta_graph.graph_def.node}
    compiled = {}  # function name -> whether it or one it calls must be XLA-compiled

    def function_compiles(name, seen=()):
        if name not in compiled:
            function = functions.get(name)
            if function is None or name in seen:
                return False
            compiled[name] = _must_compile(function.attr) or any(
                _node_compiles(node, lambda called: function_compiles(called, (*seen, name)))
                for node in function.node_def)
        return compiled[name]

    found = set()
    for signature_name, signature in meta_graph.signature_def.items():
        pending = [info.name.split(":")[0] for info in signature.outputs.values()]
        reached = set()
        while pending:
            node = nodes.get(pending.pop().lstrip("^"))
            if node is None or node.name in reached:
                continue
            reached.add(node.name)
            if _node_compiles(node, function_compiles):
                found.add(signature_name)
                break
            pending.extend(name.split(":")[0] for name in node.input)
    return found


def _node_compiles(node, function_compiles):
    return _must_compile(node.attr) or any(function_compiles(name) for name in _called(node.attr))


def _must_compile(attrs):
    return "_XlaMustCompile" in attrs and attrs["_XlaMustCompile"].b


def _called(attrs):
    """The functions a node's attributes name (a call's `f`, a loop's `body` and `cond`, a branch, ...)."""
    for value in attrs.values():
        if value.HasField("func"):
            yield value.func.name
        yield from (function.name for function in value.list.func)
