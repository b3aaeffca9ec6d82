"""The playground's HTTP API: sessions, settings, stepping, state, exports, refusals."""

import base64
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx2")

from starlette.testclient import TestClient

from chainrule.cli import main as chainrule_main
from chainrule.playground.server import STATIC, create_app
from chainrule.playground.session import GRID, SessionPool
from chainrule.train.serialization import load

LECTURE = {  # the lecture's demo, made small: Gaussian set, noise 50, L1, all features
    "dataset": "gauss",
    "noise": 0.5,
    "features": ["x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)"],
    "hidden": [4, 3],
    "regularization": "l1",
    "reg_rate": 0.003,
    "dropout": 0.2,
}


JSON = {"Content-Type": "application/json"}


@pytest.fixture
def client():
    pool = SessionPool(max_sessions=8, ttl=60)
    with TestClient(create_app(pool), base_url="http://127.0.0.1") as test_client:
        yield test_client


def new_session(client, settings=None):
    response = client.post("/api/sessions", json=settings or {})
    assert response.status_code == 201, response.text
    return response.json()


def step(client, session_id, times=1):
    for _ in range(times):
        response = client.post(f"/api/sessions/{session_id}/step")
        assert response.status_code == 200, response.text
    return response.json()


def test_a_new_session_is_the_default_network_paused_at_epoch_zero(client):
    state = new_session(client)
    assert (state["epoch"], state["playing"]) == (0, False)
    assert state["settings"]["dataset"] == "circle" and state["settings"]["hidden"] == [4, 2]
    assert [np.shape(w) for w in state["weights"]] == [(4, 2), (2, 4), (2, 2)]
    assert [len(layer) for layer in state["neurons"]] == [4, 2]
    assert len(state["logits"]) == 2
    assert len(base64.b64decode(state["output"])) == GRID * GRID
    assert len(state["points"]["train"]) == len(state["points"]["test"]) == 250
    assert state["last"]["test_loss"] > 0.5  # untrained: about ln 2
    assert state["doctor"] == []


def test_step_trains_one_epoch_and_the_state_says_so(client):
    state = new_session(client, {"dataset": "gauss"})
    after = step(client, state["id"], 3)
    assert after["epoch"] == 3 and after["version"] > state["version"]
    assert after["curves"]["epoch"] == [0, 1, 2, 3]
    assert after["last"]["test_loss"] < state["last"]["test_loss"]
    assert after["weights"] != state["weights"]
    unchanged = client.get(f"/api/sessions/{state['id']}/state?since={after['version']}").json()
    assert unchanged == {"version": after["version"], "changed": False}
    again = client.get(f"/api/sessions/{state['id']}/state").json()
    assert again["epoch"] == 3


def test_changing_settings_starts_a_new_network_with_them(client):
    state = new_session(client)
    step(client, state["id"])
    changed = client.post(f"/api/sessions/{state['id']}/settings", json=LECTURE).json()
    assert changed["epoch"] == 0
    assert changed["settings"]["features"] == LECTURE["features"]
    assert [np.shape(w) for w in changed["weights"]] == [(4, 7), (3, 4), (2, 3)]
    assert [m["name"] for m in changed["inputs"]] == LECTURE["features"]


def test_play_trains_in_the_background_until_paused(client):
    session_id = new_session(client, {"dataset": "gauss", "batch_size": 30})["id"]
    assert client.post(f"/api/sessions/{session_id}/play").json()["playing"] is True
    deadline = time.monotonic() + 30
    while client.get(f"/api/sessions/{session_id}/state").json()["epoch"] < 3:
        assert time.monotonic() < deadline, "no epoch trained in 30 s"
        time.sleep(0.05)
    paused = client.post(f"/api/sessions/{session_id}/pause").json()
    assert paused["playing"] is False
    time.sleep(0.3)
    assert client.get(f"/api/sessions/{session_id}/state").json()["epoch"] == paused["epoch"]
    reset = client.post(f"/api/sessions/{session_id}/reset").json()
    assert reset["epoch"] == 0 and reset["settings"]["batch_size"] == 30


def test_two_sessions_side_by_side_train_exactly_as_one_alone(client):
    settings = {**LECTURE, "seed": 4}
    a, b = new_session(client, settings)["id"], new_session(client, settings)["id"]
    for _ in range(2):  # interleaved: each draws dropout masks and shuffles in turn
        step(client, a)
        step(client, b)
    alone = new_session(client, settings)["id"]
    expected = step(client, alone, 2)["weights"]
    for session_id in (a, b):
        assert client.get(f"/api/sessions/{session_id}/state").json()["weights"] == expected


def test_exported_toml_and_script_train_to_the_same_weights(client, tmp_path):
    session_id = new_session(client, LECTURE)["id"]
    state = step(client, session_id, 3)
    toml = client.get(f"/api/sessions/{session_id}/export.toml")
    script = client.get(f"/api/sessions/{session_id}/export.py")
    assert toml.status_code == script.status_code == 200
    assert "attachment" in toml.headers["content-disposition"]
    assert "l1_proximal = true" in toml.text  # L1 as the page trains it: soft-thresholding
    assert "nn.L1L2(l1=0.003, proximal=True)" in script.text
    (tmp_path / "run.toml").write_text(toml.text)
    (tmp_path / "run.py").write_text(script.text)

    run_dir = tmp_path / "run"
    assert (
        chainrule_main(["train", str(tmp_path / "run.toml"), "--run-dir", str(run_dir), "--quiet"])
        == 0
    )
    history = (run_dir / "history.csv").read_text().splitlines()
    columns = dict(zip(history[0].split(","), history[-1].split(",")))
    assert float(columns["val_loss"]) == state["last"]["test_loss"]
    assert float(columns["loss"]) == state["last"]["train_loss"]
    weights = load(run_dir / "checkpoints" / "last.npz")
    linear = sorted(k for k in weights if k.endswith("weight"))
    for key, expected in zip(linear, state["weights"]):
        np.testing.assert_array_equal(weights[key], np.asarray(expected, dtype=np.float32))

    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, str(tmp_path / "run.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == (
        f"epoch 3: training loss {state['last']['train_loss']:.6f}, "
        f"test loss {state['last']['test_loss']:.6f}, "
        f"test accuracy {state['last']['test_accuracy']:.4f}"
    )


def test_l1_leaves_exact_zeros_in_the_first_layer_and_l2_does_not(client):
    """L1's feature selection: the proximal step sets weights to exactly 0; L2 only shrinks."""
    zeros = {}
    for regularization in ("l1", "l2"):
        settings = {**LECTURE, "regularization": regularization, "reg_rate": 0.03}
        state = step(client, new_session(client, settings)["id"], 10)
        first = np.asarray(state["weights"][0])  # (4 units, 7 features)
        zeros[regularization] = int(np.count_nonzero(first == 0.0))
        assert state["last"]["test_loss"] < 0.6  # still learning: ln 2 = 0.69 untrained
    assert zeros["l1"] >= 4, zeros  # 6 of 28 at the time of writing
    assert zeros["l2"] == 0, zeros


@pytest.mark.parametrize(
    "body, field, words",
    [
        ({"hidden": [4, 9]}, "hidden[1]", "expected an integer >= 1 and <= 8; got 9"),
        ({"hidden": [1] * 9}, "hidden", "a list of at most 8 layer sizes"),
        ({"lr": 0}, "lr", "expected a number > 0 and <= 10; got 0"),
        ({"lr": "0.1"}, "lr", "got '0.1'"),
        ({"noise": 0.7}, "noise", "<= 0.5"),
        ({"dataset": "moons"}, "dataset", "expected one of 'circle', 'xor', 'gauss', 'spiral'"),
        ({"optimizer": "__import__('os')"}, "optimizer", "expected one of 'sgd'"),
        ({"activation": "Relu"}, "activation", "did you mean 'relu'?"),
        ({"features": []}, "features", "a non-empty list of distinct features"),
        ({"features": ["x1", "x3"]}, "features[1]", "got 'x3'"),
        ({"batch_size": 501}, "batch_size", "<= 500"),
        ({"seed": -1}, "seed", ">= 0"),
        ({"dropout": True}, "dropout", "got True"),
        ({"learning_rate": 0.1}, "learning_rate", "unknown setting; valid settings: dataset"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(client, body, field, words):
    session_id = new_session(client)["id"]
    for response in (
        client.post("/api/sessions", json=body),
        client.post(f"/api/sessions/{session_id}/settings", json=body),
    ):
        assert response.status_code == 422
        assert response.json()["field"] == field
        assert words in response.json()["error"]
    assert client.get(f"/api/sessions/{session_id}/state").json()["settings"]["hidden"] == [4, 2]


def test_malformed_requests_are_refused_and_the_server_goes_on(client):
    session_id = new_session(client)["id"]
    cases = [
        (
            client.post("/api/sessions", content=b"{not json", headers=JSON),
            400,
            "body: expected a JSON object",
        ),
        (
            client.post("/api/sessions", content=b"[1, 2]", headers=JSON),
            422,
            "settings: expected a JSON object",
        ),
        (client.post("/api/sessions", content=b" " * 20_000), 413, "at most 16384"),
        (
            client.post("/api/sessions", content=b"seed=1"),
            415,
            "expected Content-Type: application/json",
        ),
        (client.get("/api/sessions/nope/state"), 404, "no such session"),
        (client.post(f"/api/sessions/{session_id}/jump"), 404, "unknown action 'jump'"),
        (client.get(f"/api/sessions/{session_id}/state?since=x"), 400, "since: expected a version"),
        (client.get(f"/api/sessions/{session_id}/export.toml"), 409, "train at least one epoch"),
        (
            client.get(f"/api/sessions/{session_id}/export.sh"),
            404,
            "expected export.toml or export.py",
        ),
    ]
    for response, status, words in cases:
        assert response.status_code == status, response.text
        assert words in response.json()["error"]
    assert client.get("/api/status").json()["sessions"] == 1


def test_sessions_are_bounded_expire_when_idle_and_close_on_request():
    pool = SessionPool(max_sessions=2, ttl=0.5)
    with TestClient(create_app(pool), base_url="http://127.0.0.1") as client:
        first, _ = new_session(client)["id"], new_session(client)
        refused = client.post("/api/sessions", json={})
        assert refused.status_code == 503
        assert "all 2 sessions are in use" in refused.json()["error"]
        assert client.post(f"/api/sessions/{first}/close").status_code == 204
        assert client.get(f"/api/sessions/{first}/state").status_code == 404
        new_session(client)
        time.sleep(0.7)  # both idle past the ttl
        new_session(client)
        assert client.get("/api/status").json() == {
            "sessions": 1,
            "max_sessions": 2,
            "ttl_s": 0.5,
            "expired": 2,
        }


def test_requests_for_another_host_are_refused(client):
    response = client.get("/api/status", headers={"Host": "evil.example:80"})
    assert response.status_code == 400


def test_the_page_and_its_assets_come_from_the_package_with_nothing_from_outside(client):
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    for name in ("app.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200
    for path in STATIC.iterdir():
        text = path.read_text()
        for marker in ('src="http', 'href="http', "url(http", "import(", "@import", "cdn"):
            assert marker not in text, f"{path.name} loads from outside: {marker}"
    options = client.get("/api/options").json()
    assert options["optimizers"][0] == "sgd" and options["max_layers"] == 8


def test_the_playground_command_serves_on_loopback_and_stops_on_ctrl_c_while_training():
    import signal
    import socket
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "chainrule", "playground", "--no-browser", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in line
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status") as response:
                    assert json.load(response)["sessions"] == 0
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/sessions", data=b"{}", headers=JSON, method="POST"
        )
        with urllib.request.urlopen(request) as response:
            session_id = json.load(response)["id"]
        play = f"http://127.0.0.1:{port}/api/sessions/{session_id}/play"
        urllib.request.urlopen(urllib.request.Request(play, method="POST")).close()
        time.sleep(0.5)  # training when Ctrl-C comes
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
        assert "stopped" in process.stdout.read()
        assert "Traceback" not in process.stderr.read()
    finally:
        process.kill()
        process.wait()


def test_the_playground_command_refuses_a_bad_port(capsys):
    with pytest.raises(SystemExit):
        chainrule_main(["playground", "--port", "70000"])
    assert "expected a port from 1 to 65535; got '70000'" in capsys.readouterr().err
