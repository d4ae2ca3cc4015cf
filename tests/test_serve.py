"""`dlsuite APP serve`: TensorFlow Serving's REST API on tiny runs' SavedModels (image_classification, sentiment,
tabular) and on a hand-made one with several named outputs, queried over real HTTP on an ephemeral port; the
answers equal the SavedModel called directly; bad requests get one-line JSON errors; the command stops on SIGTERM."""

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import tensorflow as tf

from common.http_serving import ServedModel, make_server
from conftest import TINY_CNN
from test_sentiment import TINY_TEXT, review_rows
from test_sentiment import write_csv as write_reviews
from test_tabular import TINY, measurements
from test_tabular import write_csv as write_table

pytestmark = pytest.mark.slow


def train_and_export(root, app: str, *args) -> str:
    from dlsuite.cli import run as dlsuite

    run = str(root / app)
    assert dlsuite([app, "train", "--epochs", "1", "--quiet", "--output-dir", run, *map(str, args)]) == 0
    assert dlsuite([app, "export", "--run", run]) == 0
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One tiny exported run per application (a few seconds each)."""
    root = tmp_path_factory.mktemp("serve")
    reviews = write_reviews(root / "reviews.csv", review_rows())
    table = write_table(root / "table.csv", measurements())
    return {
        "image_classification": train_and_export(root, "image_classification", "--dataset", "digits", *TINY_CNN,
                                                 "--set", "image_summary_every=0", "--set", "baseline_max_samples=0"),
        "sentiment": train_and_export(root, "sentiment", "--dataset", reviews, *TINY_TEXT,
                                      "--set", "image_summary_every=0"),
        "tabular": train_and_export(root, "tabular", "--dataset", table, "--target", "kind", *TINY),
    }


@contextlib.contextmanager
def serving(path: str, name: str, **options):
    """A server on 127.0.0.1 and a free port, in a thread; yields (base URL, the SavedModel loaded apart)."""
    server = make_server(ServedModel(path, name), "127.0.0.1", 0, quiet=True, **options)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", tf.saved_model.load(path)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def call(url: str, body=None, method=None, raw: bytes | None = None):
    """(HTTP status, parsed JSON body, headers) of one request; `body` is sent as JSON."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read()), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), exc.headers


def direct(saved, **inputs) -> dict:
    return {k: v.numpy() for k, v in saved.signatures["serving_default"](**inputs).items()}


def probabilities(outputs: dict):
    """A classifier export's named outputs (probabilities, label, class_name): its probabilities."""
    assert set(outputs) == {"probabilities", "label", "class_name"}, outputs
    return outputs["probabilities"]


def answered(answer: dict, key: str, expected: dict) -> None:
    """A classifier's answer, in row ("predictions": a dict per instance) or columnar ("outputs") format, equals
    the SavedModel's own outputs."""
    rows = answer[key] if key == "predictions" else [dict(zip(answer[key], values))
                                                      for values in zip(*answer[key].values())]
    np.testing.assert_allclose(np.array([r["probabilities"] for r in rows]), expected["probabilities"],
                               rtol=1e-5, atol=1e-6)
    assert [r["label"] for r in rows] == expected["label"].tolist()
    assert [r["class_name"] for r in rows] == [n.decode() for n in expected["class_name"]]


def test_image_classification_status_metadata_and_predictions(runs):
    from common.datasets import load_images

    path = os.path.join(runs["image_classification"], "saved_model")
    with serving(path, "image_classification") as (url, saved):
        base = f"{url}/v1/models/image_classification"
        assert call(base)[:2] == (200, {"model_version_status": [
            {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]})
        assert call(f"{base}/versions/1")[0] == 200
        status, meta, _ = call(f"{base}/metadata")
        signature = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
        assert status == 200 and meta["model_spec"] == {"name": "image_classification", "signature_name": "",
                                                        "version": "1"}
        image = signature["inputs"]["image"]
        assert image["dtype"] == "DT_FLOAT" and [d["size"] for d in image["tensor_shape"]["dim"]] == ["-1", "8", "8", "1"]
        assert {k: o["dtype"] for k, o in signature["outputs"].items()} == {
            "probabilities": "DT_FLOAT", "label": "DT_INT64", "class_name": "DT_STRING"}

        batch = np.stack([x for x, _ in load_images("digits").test.take(4).as_numpy_iterator()]).astype(np.float32)
        expected = direct(saved, image=tf.constant(batch))
        probabilities(expected)
        for request, key in (({"instances": batch.tolist()}, "predictions"),
                             ({"instances": [{"image": x} for x in batch.tolist()]}, "predictions"),
                             ({"inputs": batch.tolist()}, "outputs"),
                             ({"inputs": {"image": batch.tolist()}, "signature_name": "serving_default"}, "outputs"),
                             ({"instances": batch[..., 0].tolist()}, "predictions")):  # 8x8 for 8x8x1
            status, answer, _ = call(f"{base}:predict", request)
            assert status == 200 and list(answer) == [key], answer
            answered(answer, key, expected)
        with urllib.request.urlopen(f"{url}/", timeout=30) as response:  # the try-it page
            assert response.status == 200 and response.headers["Content-Type"].startswith("text/html")
            page = response.read().decode()
        assert "<textarea" in page and "/v1/models/image_classification:predict" in page and "[[0, 0" in page


def test_sentiment_takes_strings_and_b64(runs):
    with serving(os.path.join(runs["sentiment"], "saved_model"), "sentiment") as (url, saved):
        texts = ["the film was great", "dull and clumsy", "héllo wonderful"]
        expected = direct(saved, text=tf.constant([[t] for t in texts]))
        probabilities(expected)
        b64 = [{"b64": base64.b64encode(t.encode()).decode()} for t in texts]
        for request, key in (({"instances": texts}, "predictions"), ({"instances": b64}, "predictions"),
                             ({"instances": [[t] for t in texts]}, "predictions"),
                             ({"inputs": {"text": texts}}, "outputs")):
            status, answer, _ = call(f"{url}/v1/models/sentiment:predict", request)
            assert status == 200, answer
            answered(answer, key, expected)


def test_tabular_takes_one_input_per_column_with_missing_cells(runs):
    rows = [{"colour": "red", "width": None, "height": 20.0, "grade": 2, "size": 31.5},
            {"colour": "blue", "width": 12.5, "height": 25.1, "grade": 1, "size": 40}]
    with serving(os.path.join(runs["tabular"], "saved_model"), "tabular") as (url, saved):
        columns = {k: [r[k] for r in rows] for k in rows[0]}
        tensors = {k: tf.constant([[np.nan if v is None else float(v)] for v in vs], tf.float32)
                   for k, vs in columns.items() if k != "colour"}
        tensors["colour"] = tf.constant([[c] for c in columns["colour"]])
        expected = direct(saved, **tensors)
        probabilities(expected)
        status, answer, _ = call(f"{url}/v1/models/tabular:predict", {"instances": rows})
        assert status == 200, answer
        answered(answer, "predictions", expected)
        status, answer, _ = call(f"{url}/v1/models/tabular:predict", {"inputs": columns})
        assert status == 200, answer
        answered(answer, "outputs", expected)

        def error(body, raw=None):
            status, answer, _ = call(f"{url}/v1/models/tabular:predict", body, raw=raw)
            assert status == 400 and list(answer) == ["error"] and "\n" not in answer["error"], answer
            return answer["error"]

        assert "lacks input 'width'" in error({"instances": [{k: v for k, v in rows[0].items() if k != "width"}]})
        assert "unknown input 'weight'" in error({"instances": [{**rows[0], "weight": 3}]})
        assert "must be a dict keyed by input name" in error({"instances": [[1, 2, 3, 4, 5]]})
        assert "takes numbers (float32); got \"wide\"" in error({"instances": [{**rows[0], "width": "wide"}]})
        assert "different batch sizes" in error({"inputs": {**columns, "size": [1.0]}})
        assert "malformed JSON" in error(None, raw=b'{"instances": [')
        assert "not UTF-8" in error(None, raw=b"\xff\xfe")


def multi_output_model(path: str) -> str:
    """A hand-made SavedModel: named float, int and string inputs; three named outputs; a "strict" signature
    that fails at run time unless it gets three values."""
    module = tf.Module()

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x"),
                                  tf.TensorSpec([None], tf.int64, name="n"),
                                  tf.TensorSpec([None], tf.string, name="word")])
    def serve(x, n, word):
        return {"sum": tf.reduce_sum(x, axis=1) + tf.cast(n, tf.float32), "shout": tf.strings.upper(word),
                "twice": n * 2}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def strict(x):
        return {"y": tf.gather(x, [0, 1, 2])}  # InvalidArgumentError on fewer values

    module.serve, module.strict = serve, strict
    tf.saved_model.save(module, path, signatures={"serving_default": serve.get_concrete_function(),
                                                  "strict": strict.get_concrete_function()})
    return path


def test_named_outputs_errors_and_status_codes(tmp_path):
    path = multi_output_model(str(tmp_path / "multi"))
    with serving(path, "toy", max_request_bytes=400) as (url, _):
        predict = f"{url}/v1/models/toy:predict"
        instances = [{"x": [1.0, 2.0], "n": 3, "word": "abc"}, {"x": [0.5, 0.5], "n": -1, "word": "é"}]
        status, answer, _ = call(predict, {"instances": instances})
        assert status == 200 and answer == {"predictions": [{"sum": 6.0, "shout": "ABC", "twice": 6},
                                                            {"sum": 0.0, "shout": "é", "twice": -2}]}
        status, answer, _ = call(predict, {"inputs": {"x": [[1, 2]], "n": [1], "word": ["a"]}})
        assert status == 200 and answer == {"outputs": {"sum": [4.0], "shout": ["A"], "twice": [2]}}
        status, answer, _ = call(predict, {"signature_name": "strict", "inputs": [1, 2, 3]})
        assert status == 200 and answer == {"outputs": [1.0, 2.0, 3.0]}

        def error(body, expected_status=400, url=predict, method=None, raw=None):
            status, answer, headers = call(url, body, method=method, raw=raw)
            assert status == expected_status and list(answer) == ["error"], answer
            assert answer["error"] and "\n" not in answer["error"] and "Traceback" not in answer["error"]
            return answer["error"], headers

        cases = [
            ({"signature_name": "strict", "inputs": [1, 2]}, "the model rejected the input"),
            ({"signature_name": "nope", "instances": [1]}, "no signature 'nope'"),
            ({"instances": []}, "is empty"),
            ({"instances": [1], "inputs": [1]}, "exactly one of"),
            ({}, "exactly one of"),
            ({"examples": [1]}, "unknown key 'examples'"),
            ([1, 2], "must be a JSON object"),
            ({"instances": {"x": [1, 2]}}, "must be a list of instances"),
            ({"instances": [{**instances[0], "x": [1.0, 2.0, 3.0]}]}, "has shape [3] per example; the signature takes [2]"),
            ({"inputs": {"x": [[1, 2], [3]], "n": [1, 2], "word": ["a", "b"]}}, "ragged"),
            ({"instances": [{**instances[0], "n": 1.5}]}, "takes integers (int64)"),
            ({"instances": [{**instances[0], "n": True}]}, "takes integers (int64)"),
            ({"instances": [{**instances[0], "word": 7}]}, "takes strings"),
            ({"instances": [{**instances[0], "word": {"b64": "not base64!"}}]}, "not valid base64"),
            ({"instances": [{**instances[0], "x": [{"a": 1}, 2]}]}, "holds an object"),
            ({"inputs": {"x": 1.0, "n": 1, "word": "a"}}, "must be a list of examples"),
            ({"signature_name": "strict", "instances": [[1.0]]}, "has shape [1] per example; the signature takes []"),
        ]
        for body, fragment in cases:
            assert fragment in error(body)[0], body

        assert "no such path" in error(None, 404, url=f"{url}/v2/whatever")[0]
        assert "no model 'other'" in error(None, 404, url=f"{url}/v1/models/other:predict", raw=b"{}")[0]
        assert "no version '2'" in error(None, 404, url=f"{url}/v1/models/toy/versions/2")[0]
        message, headers = error(None, 405, url=predict)
        assert "GET is not allowed" in message and headers["Allow"] == "POST"
        message, headers = error({}, 405, url=f"{url}/v1/models/toy")
        assert "POST is not allowed" in message and headers["Allow"] == "GET"
        assert error(None, 405, url=predict, method="DELETE")[0].startswith("DELETE is not allowed")
        too_big = {"instances": [{"x": [1.0, 2.0], "n": 1, "word": "a" * 500}]}
        assert "over the limit of 400 bytes" in error(too_big, 413)[0]
        status, _, _ = call(predict, {"instances": instances})  # the server still answers
        assert status == 200


def test_stopping_finishes_the_requests_in_flight(tmp_path):
    import io

    from common.http_serving import serve_until_signalled

    served = ServedModel(multi_output_model(str(tmp_path / "multi")), "toy")
    entered, release = threading.Event(), threading.Event()
    predict = served.predict

    def slow_predict(request):
        entered.set()
        assert release.wait(30)
        return predict(request)

    served.predict = slow_predict
    server = make_server(served, "127.0.0.1", 0, quiet=True)
    stop, out, codes, answers = threading.Event(), io.StringIO(), [], []
    serving_thread = threading.Thread(target=lambda: codes.append(serve_until_signalled(server, out, stop)))
    serving_thread.start()
    url = f"http://127.0.0.1:{server.server_port}/v1/models/toy:predict"
    body = {"signature_name": "strict", "inputs": [1, 2, 3]}
    client = threading.Thread(target=lambda: answers.append(call(url, body)[:2]))
    client.start()
    assert entered.wait(30)
    stop.set()  # what SIGTERM does
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # it stops accepting while the request is in flight
        try:
            socket.create_connection(("127.0.0.1", server.server_port), timeout=1).close()
        except ConnectionRefusedError:
            break
        except OSError:  # a full backlog between shutdown() and the socket's close: try again
            pass
        time.sleep(0.2)
    else:
        pytest.fail("the server kept accepting after stop")
    assert serving_thread.is_alive() and not answers
    release.set()
    client.join(30)
    serving_thread.join(30)
    assert answers == [(200, {"outputs": [1.0, 2.0, 3.0]})] and codes == [0]
    assert out.getvalue().startswith(f"serving toy on http://127.0.0.1:{server.server_port} ")


def run_copy_without_export(run: str, target) -> str:
    os.makedirs(target)
    for name in ("config.json", "metrics.json", "model.keras"):
        shutil.copy(os.path.join(run, name), target)
    return str(target)


def test_serve_command_exports_answers_and_stops_on_sigterm(runs, tmp_path):
    run = run_copy_without_export(runs["tabular"], tmp_path / "run")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen([sys.executable, "-m", "dlsuite", "tabular", "serve", "--run", run, "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith("serving tabular on http://127.0.0.1:"), (line, proc.stderr.read() if proc.poll() else "")
        base = line.split()[3]
        row = {"colour": "green", "width": 9.0, "height": 18.0, "grade": 3, "size": 27.0}
        status, answer, _ = call(f"{base}/v1/models/tabular:predict", {"instances": [row]})
        assert status == 200 and len(answer["predictions"]) == 1 and len(answer["predictions"][0]["probabilities"]) == 2
        assert answer["predictions"][0]["class_name"] in ("small", "large")
        assert os.path.isfile(os.path.join(run, "saved_model", "saved_model.pb"))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "exported" in proc.stderr.read()


def test_serve_command_errors_are_one_line(cli, runs, tmp_path):
    def fails(*args, match):
        code, out, err = cli(*args)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("dlsuite: error: ") and match in lines[0], err

    fails("tabular", "serve", "--run", tmp_path / "missing", match="is not a directory")
    (tmp_path / "empty").mkdir()
    fails("tabular", "serve", "--run", tmp_path / "empty", match="config.json not found")
    fails("sentiment", "serve", "--run", runs["tabular"], match="is a 'tabular' run, not 'sentiment'")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        fails("tabular", "serve", "--run", runs["tabular"], "--port", busy.getsockname()[1],
              match="Address already in use")
    fails("tabular", "serve", "--run", runs["tabular"], "--host", "192.0.2.1", match="cannot listen on 192.0.2.1")
    fails("tabular", "serve", "--run", runs["tabular"], "--host", "bad host!", match="cannot listen on host 'bad host!'")
    fails("tabular", "serve", "--run", runs["tabular"], "--port", "70000", match="not a port number")
    fails("tabular", "serve", "--run", runs["tabular"], "--max-request-bytes", "0", match="must be >= 1")


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (installed by .ci/run)")
def test_try_it_page_predicts_in_headless_chromium(runs, tmp_path):
    """The page at / sends its example request from a real browser and shows the answer (`/#predict` presses
    the button once the page has loaded)."""
    with serving(os.path.join(runs["sentiment"], "saved_model"), "sentiment") as (url, _):
        done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                               f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=20000",
                               "--dump-dom", f"{url}/#predict"], capture_output=True, text=True, timeout=120)
    dom = done.stdout
    assert '<pre id="r">200' in dom, (done.returncode, dom[-2000:], done.stderr[-2000:])
    assert '"predictions"' in dom and '"class_name"' in dom
