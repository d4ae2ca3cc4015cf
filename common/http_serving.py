"""An HTTP JSON endpoint on a SavedModel that speaks TensorFlow Serving's REST predict API (stdlib http.server).

    dlsuite APP serve --run DIR [--host 127.0.0.1] [--port 8501] [--max-request-bytes N]

    GET  /v1/models/APP             model status: {"model_version_status": [{"version": "1", "state": "AVAILABLE", ...}]}
    GET  /v1/models/APP/metadata    every signature's inputs and outputs (dtype, shape), as TF Serving writes them
    POST /v1/models/APP:predict     {"instances": [...]} -> {"predictions": [...]}            (row format)
                                    {"inputs": ... }     -> {"outputs": ...}                  (columnar format)
    GET  /                          a small page to try the model with an example request (`/#predict` sends
                                    it at once)
    (`/v1/models/APP/versions/1...` works too: the run's one export is version 1.)

A request may name a `signature_name` (default `serving_default`). An instance is the input's value for a
one-input signature, or a dict keyed by input name (a tabular model takes one input per column); columnar
`inputs` are the batched value, or a dict of them. Strings are plain JSON strings, bytes may be
`{"b64": "..."}`; `null` in a float input is NaN (a missing cell). Values are checked against the
signature's dtype and shape, where trailing size-1 dimensions may be left out (a column's `"red"` for a
`(None, 1)` string input, an `8x8` picture for `8x8x1`). With several outputs each prediction is a dict of
them; string outputs come back as UTF-8 text (`{"b64": ...}` if they are not UTF-8).

Errors are JSON `{"error": "<one line>"}`: 400 for a bad request (malformed JSON, wrong keys, dtype or
shape, unknown input names, empty or ragged lists) and for a model error at run time (TensorFlow's
InvalidArgumentError), 404 for an unknown path or model, 405 for a wrong method, 411 without a
Content-Length, 413 for a body over `max_request_bytes`. SIGTERM or Ctrl-C stops the server
gracefully: it stops accepting, finishes the requests in flight and returns 0.

`dlsuite APP serve` exports RUN/saved_model first when the run has none (as `dlsuite APP export` would).
"""

from __future__ import annotations

import base64
import binascii
import http.server
import json
import math
import os
import signal
import socket
import socketserver
import sys
import threading

import numpy as np

from common.errors import UsageError

DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024
DEFAULT_SIGNATURE = "serving_default"
VERSION = "1"  # a run has one export


class BadRequest(Exception):
    """A request the server answers with `status` and `{"error": message}`."""

    def __init__(self, message: str, status: int = 400, allow: tuple = ()):
        super().__init__(" ".join(str(message).split()) or "bad request")
        self.status = status
        self.allow = allow  # the methods a 405 names in its Allow header


def _first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""


def _shape(dims) -> list:
    return [None if d is None else int(d) for d in dims]


class ServedModel:
    """A loaded SavedModel and the JSON <-> tensor conversions of its signatures.

    Args:
        path: the SavedModel folder.
        name: the model name in the URLs (`/v1/models/NAME`).

    Example:
        served = ServedModel("runs/digits/saved_model", "image_classification")
        served.predict({"instances": [[[0.0] * 8] * 8]})  # {"predictions": [[0.1, ...]]}
    """

    def __init__(self, path: str, name: str):
        import tensorflow as tf

        self.tf = tf
        self.name = name
        self.path = path
        self.model = tf.saved_model.load(path)
        self.signatures = {}
        for key, fn in self.model.signatures.items():
            _, inputs = fn.structured_input_signature
            self.signatures[key] = (fn, dict(inputs), dict(fn.structured_outputs))
        if not self.signatures:
            raise UsageError(f"{path} has no signatures to serve")

    # -- status and metadata -------------------------------------------------------------------------------

    def status(self) -> dict:
        return {"model_version_status": [{"version": VERSION, "state": "AVAILABLE",
                                          "status": {"error_code": "OK", "error_message": ""}}]}

    def metadata(self) -> dict:
        from tensorflow.core.framework import types_pb2

        def describe(key, spec):
            shape = spec.shape
            dims = [] if shape.rank is None else [{"size": str(-1 if d is None else d), "name": ""} for d in shape]
            return {"dtype": types_pb2.DataType.Name(spec.dtype.as_datatype_enum),
                    "tensor_shape": {"dim": dims, "unknown_rank": shape.rank is None}, "name": spec.name or key}

        defs = {key: {"inputs": {k: describe(k, s) for k, s in inputs.items()},
                      "outputs": {k: describe(k, s) for k, s in outputs.items()},
                      "method_name": "tensorflow/serving/predict"}
                for key, (_, inputs, outputs) in self.signatures.items()}
        return {"model_spec": {"name": self.name, "signature_name": "", "version": VERSION},
                "metadata": {"signature_def": {"signature_def": defs}}}

    def example_request(self) -> dict:
        """A one-instance row-format request of the right shapes (zeros, or "text"), for the try-it page."""
        _, inputs, _ = self.signatures.get(DEFAULT_SIGNATURE) or next(iter(self.signatures.values()))

        def value(spec):
            leaf = "text" if spec.dtype == self.tf.string else (False if spec.dtype == self.tf.bool else 0)
            dims = [] if spec.shape.rank is None else _shape(spec.shape)[1:]
            while dims and dims[-1] == 1:  # trailing size-1 dimensions may be left out
                dims.pop()
            for d in reversed(dims):
                leaf = [leaf] * (d or 1)
            return leaf

        if len(inputs) == 1:
            return {"instances": [value(next(iter(inputs.values())))]}
        return {"instances": [{key: value(spec) for key, spec in inputs.items()}]}

    # -- predict -------------------------------------------------------------------------------------------

    def predict(self, request) -> dict:
        """The response to a predict request (a parsed JSON object); raises BadRequest."""
        if not isinstance(request, dict):
            raise BadRequest(f"the request must be a JSON object, not {_json_type(request)}")
        unknown = sorted(set(request) - {"instances", "inputs", "signature_name"})
        if unknown:
            raise BadRequest(f"unknown key {unknown[0]!r} in the request; use \"instances\" (row format) or "
                             "\"inputs\" (columnar format), and optionally \"signature_name\"")
        if ("instances" in request) == ("inputs" in request):
            raise BadRequest("the request needs exactly one of \"instances\" (row format) or \"inputs\" "
                             "(columnar format)")
        key = request.get("signature_name", DEFAULT_SIGNATURE)
        if key not in self.signatures:
            raise BadRequest(f"no signature {key!r}; this model has {', '.join(map(repr, self.signatures))}")
        fn, inputs, _ = self.signatures[key]
        if "instances" in request:
            tensors, batch = self._rows(request["instances"], inputs)
        else:
            tensors, batch = self._columns(request["inputs"], inputs)
        outputs = self._call(fn, tensors)
        if "instances" in request:
            return {"predictions": _rows_of(outputs, batch)}
        encoded = {k: _encode(v) for k, v in outputs.items()}
        return {"outputs": next(iter(encoded.values())) if len(encoded) == 1 else encoded}

    def _rows(self, instances, inputs: dict):
        if not isinstance(instances, list):
            raise BadRequest(f"\"instances\" must be a list of instances, not {_json_type(instances)}")
        if not instances:
            raise BadRequest("\"instances\" is empty: send at least one instance")
        columns = {name: [] for name in inputs}
        for i, instance in enumerate(instances):
            named = self._named(instance, inputs, f"instance {i}")
            for name, value in named.items():
                columns[name].append(_to_array(value, inputs[name], f"input {name!r} of instance {i}", batched=False))
        tensors = {}
        for name, arrays in columns.items():
            first = arrays[0].shape
            for i, array in enumerate(arrays):
                if array.shape != first:
                    raise BadRequest(f"input {name!r} is ragged: instance {i} has shape {list(array.shape)}, "
                                     f"instance 0 {list(first)}; pad them to one shape")
            tensors[name] = np.stack(arrays)
        return tensors, len(instances)

    def _columns(self, value, inputs: dict):
        named = self._named(value, inputs, "\"inputs\"")
        tensors = {name: _to_array(v, inputs[name], f"input {name!r}", batched=True) for name, v in named.items()}
        sizes = {name: array.shape[0] for name, array in tensors.items()}
        if len(set(sizes.values())) > 1:
            raise BadRequest(f"the inputs have different batch sizes: {', '.join(f'{k}={v}' for k, v in sizes.items())}")
        batch = next(iter(sizes.values()))
        if batch == 0:
            raise BadRequest("\"inputs\" holds no examples (a batch of size 0)")
        return tensors, batch

    def _named(self, value, inputs: dict, where: str) -> dict:
        """{input name: value} of an instance, or of the columnar inputs."""
        names = list(inputs)
        one = len(names) == 1
        if isinstance(value, dict) and not (one and set(value) == {"b64"} and names[0] != "b64"):
            unknown = [k for k in value if k not in inputs]
            if unknown:
                raise BadRequest(f"unknown input {unknown[0]!r} in {where}; the signature takes "
                                 f"{', '.join(map(repr, names))}")
            missing = [k for k in names if k not in value]
            if missing:
                raise BadRequest(f"{where} lacks input {missing[0]!r}; the signature takes {', '.join(map(repr, names))}")
            return value
        if not one:
            raise BadRequest(f"{where} must be a dict keyed by input name: the signature takes "
                             f"{', '.join(map(repr, names))}")
        return {names[0]: value}

    def _call(self, fn, tensors: dict) -> dict:
        tf = self.tf
        _, specs = fn.structured_input_signature
        args = {name: tf.constant(array, dtype=specs[name].dtype) for name, array in tensors.items()}
        try:
            outputs = fn(**args)
        except tf.errors.InvalidArgumentError as exc:
            raise BadRequest(f"the model rejected the input: {_first_line(exc.message)}") from None
        except (ValueError, TypeError) as exc:  # a shape or dtype the concrete function does not take
            raise BadRequest(f"the signature rejected the input: {_first_line(exc)}") from None
        if not isinstance(outputs, dict):
            outputs = {"output_0": outputs}
        return {k: v.numpy() for k, v in outputs.items()}


def _json_type(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


def _walk(value, where: str, leaves: list) -> tuple:
    """The shape of a nested JSON list, its leaves appended to `leaves`; raggedness is a BadRequest."""
    if isinstance(value, list):
        shapes = {_walk(item, where, leaves) for item in value}
        if len(shapes) > 1:
            raise BadRequest(f"{where} is a ragged list (rows of shapes {sorted(map(list, shapes))[:2]}); "
                             "give every row the same length")
        return (len(value), *(shapes.pop() if shapes else ()))
    if isinstance(value, dict) and set(value) != {"b64"}:
        raise BadRequest(f"{where} holds an object where a value belongs (only {{\"b64\": ...}} is a value)")
    leaves.append(value)
    return ()


def _leaf_converter(dtype, where: str):
    """A function of one JSON leaf to the numpy value of `dtype`, or a BadRequest."""
    def reject(leaf, wanted):
        shown = json.dumps(leaf)
        raise BadRequest(f"{where} takes {wanted} ({dtype.name}); got {shown[:40]}")

    if dtype.name == "string":
        def convert(leaf):
            if isinstance(leaf, str):
                return leaf.encode("utf-8")
            if isinstance(leaf, dict) and isinstance(leaf["b64"], str):
                try:
                    return base64.b64decode(leaf["b64"], validate=True)
                except (binascii.Error, ValueError):
                    raise BadRequest(f"{where} has a \"b64\" value that is not valid base64") from None
            return reject(leaf, "strings or {\"b64\": ...}")
        return convert
    if dtype.is_bool:
        return lambda leaf: leaf if isinstance(leaf, bool) else reject(leaf, "true or false")
    if dtype.is_floating:
        def convert(leaf):
            if leaf is None:
                return math.nan  # a missing value
            if isinstance(leaf, (int, float)) and not isinstance(leaf, bool):
                return leaf
            return reject(leaf, "numbers")
        return convert
    if dtype.is_integer:
        def convert(leaf):
            if isinstance(leaf, float) and leaf.is_integer():
                leaf = int(leaf)
            if isinstance(leaf, int) and not isinstance(leaf, bool):
                if not dtype.min <= leaf <= dtype.max:
                    raise BadRequest(f"{where}: {leaf} is out of the range of {dtype.name}")
                return leaf
            return reject(leaf, "integers")
        return convert
    raise BadRequest(f"{where} has dtype {dtype.name}, which this server does not convert from JSON")


def _to_array(value, spec, where: str, batched: bool):
    """A numpy array of `value` for the TensorSpec `spec`: per instance (`batched=False`, the batch dimension
    left out) or batched; trailing size-1 dimensions may be left out."""
    leaves = []
    try:
        shape = _walk(value, where, leaves)
    except RecursionError:
        raise BadRequest(f"{where} is nested too deeply") from None
    convert = _leaf_converter(spec.dtype, where)
    flat = [convert(leaf) for leaf in leaves]
    np_dtype = object if spec.dtype.name == "string" else spec.dtype.as_numpy_dtype
    array = np.array(flat, dtype=np_dtype).reshape(shape) if flat else np.zeros(shape, np_dtype)
    if spec.shape.rank is None:
        return array
    wanted = _shape(spec.shape) if batched else _shape(spec.shape)[1:]
    if batched and array.ndim == 0:
        raise BadRequest(f"{where} must be a list of examples (the batch dimension first), not one value")
    while array.ndim < len(wanted) and all(d == 1 for d in wanted[array.ndim:]):
        array = array[..., None]
    if array.ndim != len(wanted) or any(w is not None and w != d for w, d in zip(wanted, array.shape)):
        got = list(array.shape[1:] if batched else array.shape)
        takes = wanted[1:] if batched else wanted
        note = " (None: any size)" if None in takes else ""
        raise BadRequest(f"{where} has shape {got} per example; the signature takes {takes}{note}")
    return array


def _encode(array):
    """JSON of an output array: numbers, UTF-8 text for strings (`{"b64": ...}` if not UTF-8), nested lists."""
    array = np.asarray(array)
    if array.dtype.kind in "OSU":
        def text(item):
            if isinstance(item, list):
                return [text(x) for x in item]
            if isinstance(item, bytes):
                try:
                    return item.decode("utf-8")
                except UnicodeDecodeError:
                    return {"b64": base64.b64encode(item).decode("ascii")}
            return str(item)
        return text(array.tolist())
    if array.dtype.kind == "f" and array.dtype.itemsize < 4 or array.dtype.kind == "V":  # float16, bfloat16
        array = array.astype(np.float32)
    return array.tolist()


def _rows_of(outputs: dict, batch: int) -> list:
    for name, array in outputs.items():
        if array.ndim == 0 or array.shape[0] != batch:
            raise BadRequest(f"output {name!r} has no batch dimension of {batch}; use the columnar format (\"inputs\")")
    encoded = {name: _encode(array) for name, array in outputs.items()}
    if len(encoded) == 1:
        return next(iter(encoded.values()))
    return [{name: values[i] for name, values in encoded.items()} for i in range(batch)]


# -- the HTTP server ---------------------------------------------------------------------------------------

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{name}</title>
<style>body{{font:15px sans-serif;margin:2em;max-width:60em}}textarea,pre{{width:100%;font:13px monospace}}
pre{{background:#f4f4f4;padding:.5em;white-space:pre-wrap}}</style></head><body>
<h1>{name}</h1><p>POST <code>{predict}</code> with TensorFlow Serving's JSON
(<a href="{base}/metadata">signature metadata</a>):</p>
<textarea id="q" rows="12">{example}</textarea><p><button onclick="go()">Predict</button></p><pre id="r"></pre>
<script>async function go(){{const r=document.getElementById("r");r.textContent="...";
try{{const a=await fetch("{predict}",{{method:"POST",headers:{{"Content-Type":"application/json"}},
body:document.getElementById("q").value}});r.textContent=a.status+"\\n"+JSON.stringify(await a.json(),null,1)}}
catch(e){{r.textContent=String(e)}}}}
if(location.hash==="#predict")go();</script></body></html>
"""


class ServingServer(http.server.ThreadingHTTPServer):
    """A ThreadingHTTPServer whose request threads `server_close` waits for (in-flight requests finish)."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, address, handler, served: ServedModel, max_request_bytes: int, quiet: bool, family):
        self.address_family = family
        self.served = served
        self.max_request_bytes = max_request_bytes
        self.quiet = quiet
        super().__init__(address, handler)

    def server_bind(self):
        socketserver.TCPServer.server_bind(self)  # not HTTPServer's: its getfqdn() may wait on DNS
        self.server_name, self.server_port = self.server_address[:2]

    @property
    def url(self) -> str:
        host = self.server_address[0]
        return f"http://[{host}]:{self.server_port}" if ":" in host else f"http://{host}:{self.server_port}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "dlsuite-serve"
    timeout = 60  # a client that stalls mid-request does not hold its thread (or the shutdown) forever

    def _route(self):
        """(what, allowed methods) of the path; what is None for an unknown path."""
        name = self.server.served.name
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            return "page", ("GET",)
        prefix = "/v1/models/"
        if not path.startswith(prefix):
            return None, ()
        rest = path[len(prefix):]
        model, sep, verb = rest.partition(":")
        parts = model.split("/")
        if len(parts) >= 3 and parts[1] == "versions":  # /v1/models/NAME/versions/1[...]
            if parts[2] != VERSION:
                raise BadRequest(f"model {parts[0]!r} has no version {parts[2]!r}; it has version {VERSION}", 404)
            parts = [parts[0], *parts[3:]]
        if parts[0] != name:
            raise BadRequest(f"no model {parts[0]!r} here; this server serves {name!r} (/v1/models/{name})", 404)
        if sep:
            return ("predict", ("POST",)) if verb == "predict" and len(parts) == 1 else (None, ())
        if parts[1:] == []:
            return "status", ("GET",)
        if parts[1:] == ["metadata"]:
            return "metadata", ("GET",)
        return None, ()

    def _handle(self, method: str):
        try:
            what, allowed = self._route()
            if what is None:
                raise BadRequest(f"no such path: {self.path}", 404)
            if method not in allowed:
                raise BadRequest(f"{method} is not allowed on {self.path}; use {' or '.join(allowed)}", 405, allowed)
            served = self.server.served
            if what == "page":
                base = f"/v1/models/{served.name}"
                example = json.dumps(served.example_request())
                page = PAGE.format(name=served.name, base=base, predict=base + ":predict",
                                   example=example.replace("&", "&amp;").replace("<", "&lt;"))
                return self._send(200, page.encode("utf-8"), "text/html; charset=utf-8")
            if what == "status":
                return self._send_json(200, served.status())
            if what == "metadata":
                return self._send_json(200, served.metadata())
            return self._send_json(200, served.predict(self._read_json()))
        except BadRequest as exc:
            return self._send_json(exc.status, {"error": str(exc)}, exc.allow)
        except Exception as exc:  # a bug, not the client's fault: one line here and there, no traceback
            message = f"internal error: {type(exc).__name__}: {_first_line(exc)}"
            print(f"dlsuite serve: {message}", file=sys.stderr)
            return self._send_json(500, {"error": message})

    def _read_json(self):
        length = self.headers.get("Content-Length")
        if length is None:
            raise BadRequest("a predict request needs a Content-Length header (no chunked bodies)", 411)
        try:
            length = int(length)
            if length < 0:
                raise ValueError
        except ValueError:
            raise BadRequest(f"bad Content-Length {self.headers.get('Content-Length')!r}") from None
        limit = self.server.max_request_bytes
        if length > limit:
            self._discard(length)
            raise BadRequest(f"request body of {length} bytes is over the limit of {limit} bytes "
                             "(--max-request-bytes)", 413)
        body = self.rfile.read(length)
        if len(body) < length:
            raise BadRequest(f"the request body ended after {len(body)} of {length} bytes")
        try:
            return json.loads(body.decode("utf-8"))
        except UnicodeDecodeError:
            raise BadRequest("the request body is not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            raise BadRequest(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
        except RecursionError:
            raise BadRequest("malformed JSON: nested too deeply") from None

    def _discard(self, length: int):
        """Reads an over-long body away (up to 1 GiB), so the client gets to read the 413 before the close."""
        self.close_connection = True
        left = min(length, 1 << 30)
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 16))
            if not chunk:
                break
            left -= len(chunk)

    def _send_json(self, status: int, payload, allow=()):
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self._send(status, body, "application/json", allow)

    def _send(self, status: int, body: bytes, content_type: str, allow=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if allow:
            self.send_header("Allow", ", ".join(allow))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_DELETE(self):
        self._handle("DELETE")

    def do_PATCH(self):
        self._handle("PATCH")

    def log_message(self, format, *args):
        if not self.server.quiet:
            super().log_message(format, *args)


def make_server(served: ServedModel, host: str = "127.0.0.1", port: int = 8501,
                max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES, quiet: bool = False) -> ServingServer:
    """A server bound to host:port (port 0: a free one, see `server.server_port`); run it with
    `serve_forever()`, or `serve_until_signalled`. A host or port it cannot use is a UsageError."""
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port} is not a port number (0-65535)")
    if max_request_bytes < 1:
        raise UsageError(f"--max-request-bytes {max_request_bytes} must be >= 1")
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise UsageError(f"cannot listen on host {host!r}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return ServingServer(address[:2], _Handler, served, max_request_bytes, quiet, family)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def serve_until_signalled(server: ServingServer, out=None, stop: threading.Event | None = None) -> int:
    """Serves until SIGTERM or Ctrl-C (or until `stop` is set), then stops accepting, finishes the requests in
    flight and returns 0. Prints one line first: the URL it listens on."""
    stop = stop or threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    loop = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="serve", daemon=True)
    loop.start()
    name = server.served.name
    print(f"serving {name} on {server.url} (POST {server.url}/v1/models/{name}:predict; Ctrl-C or SIGTERM stops)",
          file=out or sys.stdout, flush=True)
    try:
        while not stop.wait(0.5) and loop.is_alive():
            pass
    except KeyboardInterrupt:  # where no handler could be installed
        pass
    finally:
        server.shutdown()  # no new requests ...
        server.server_close()  # ... and the ones in flight finish
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def serve_run(task, run_dir: str, host: str = "127.0.0.1", port: int = 8501,
              max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES) -> int:
    """`dlsuite APP serve`: serves RUN/saved_model of a run of `task`, exporting it first if the run has none."""
    from common.runs import RunDir

    run = RunDir(run_dir)
    if not os.path.isdir(run_dir):
        raise UsageError(f"--run {run_dir} is not a directory")
    app = run.read_json(run.config).get("app")
    if app != task.name:
        raise UsageError(f"{run_dir} is a {app!r} run, not {task.name!r}")
    if not os.path.isfile(os.path.join(run.saved_model, "saved_model.pb")):
        from common.serving import export_run

        path = export_run(task, run_dir)
        print(f"exported {path} first (the run had no SavedModel)", file=sys.stderr)
    # Bind before loading, so a busy port fails at once; the URL line comes when the model answers.
    server = make_server(None, host, port, max_request_bytes)
    try:
        server.served = ServedModel(run.saved_model, task.name)
    except UsageError:
        server.server_close()
        raise
    except Exception as exc:
        server.server_close()
        raise UsageError(f"cannot load the SavedModel {run.saved_model}: {_first_line(exc)}") from None
    return serve_until_signalled(server)
