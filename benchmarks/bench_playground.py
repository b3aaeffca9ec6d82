"""The playground's figures: training rate, page load time, a load test, the L1-vs-L2 demo.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_playground.py           # measure, write README
    python benchmarks/bench_playground.py --readme                          # only rewrite README
    python benchmarks/bench_playground.py --screenshot                      # only docs/playground.png

Measures, against the real server on 127.0.0.1:
  * updates while a 4 x 8 tanh network trains (all seven features, Gaussian set, noise 50,
    L1): epochs and optimiser steps a second, and state updates a polling page receives;
  * page load time in headless Chromium (navigation to the first state drawn), median of 5;
  * a load test: 36 tabs at once (open, step, play, poll, pause, export, a refused
    setting), at most 24 sessions: requests, latencies, refusals, sessions left after expiry;
  * the lecture's L1-vs-L2 demo: how many first-layer weights are under 0.01 in |w|, and
    how many are exactly 0 (L1 is the proximal step: it sets weights to exactly zero);
and takes the README's screenshot (docs/playground.png). Writes
benchmarks/results/playground.json and the README paragraph between the
``playground:begin`` / ``playground:end`` markers.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from _readme import replace_between
from chainrule.experiments.report import machine
from chainrule.playground.server import BackgroundServer
from chainrule.train.serialization import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "playground.json"
SCREENSHOT = ROOT / "docs" / "playground.png"
README = ROOT / "README.md"
BEGIN, END = "<!-- playground:begin -->", "<!-- playground:end -->"

ALL_FEATURES = ["x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)"]
LECTURE = {  # "a large net, all input features, the Gaussian set with noise 50"
    "dataset": "gauss",
    "noise": 0.5,
    "features": ALL_FEATURES,
    "hidden": [8, 8, 8, 8],
    "activation": "tanh",
}


def call(url: str, body: object = None, method: str | None = None) -> tuple[int, object, float]:
    """(status, JSON answer or text, seconds) of one request."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method=method or ("POST" if data else "GET"),
        headers={"Content-Type": "application/json"},
    )
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            raw, status = response.read(), response.status
    except urllib.error.HTTPError as error:
        raw, status = error.read(), error.code
    seconds = time.perf_counter() - start
    answer = json.loads(raw) if raw.startswith((b"{", b"[")) else raw.decode()
    return status, answer, seconds


def training_rate(base: str, seconds: float = 10.0) -> dict[str, float]:
    """A 4 x 8 network playing for ``seconds`` while a page polls at its 10 a second."""
    _, state, _ = call(
        f"{base}/api/sessions", {**LECTURE, "regularization": "l1", "reg_rate": 0.003}
    )
    session = f"{base}/api/sessions/{state['id']}"
    call(f"{session}/play", method="POST")
    start, version, received, first_epoch = time.perf_counter(), state["version"], 0, None
    while time.perf_counter() - start < seconds:
        _, answer, _ = call(f"{session}/state?since={version}")
        if answer.get("changed") is not False:
            received += 1
            version = answer["version"]
            first_epoch = answer["epoch"] if first_epoch is None else first_epoch
            last_epoch, last_time = answer["epoch"], time.perf_counter()
        time.sleep(0.1)
    call(f"{session}/pause", method="POST")
    call(f"{session}/close", method="POST")
    elapsed = last_time - start
    epochs = last_epoch  # from epoch 0 at start
    steps_per_epoch = -(-250 // 10)  # 250 training points, batch 10
    return {
        "network": "7-8-8-8-8-2 tanh, SGD lr 0.03, batch 10, L1 0.003, 250 training points",
        "seconds": round(elapsed, 2),
        "epochs_per_s": round(epochs / elapsed, 1),
        "steps_per_s": round(epochs * steps_per_epoch / elapsed, 0),
        "state_updates_per_s": round(received / elapsed, 1),
    }


def browser():
    from selenium import webdriver

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        return None
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1500,950")
    return webdriver.Chrome(service=webdriver.ChromeService(driver), options=options)


def page_load(base: str, driver, rounds: int = 5) -> dict[str, float]:
    """Seconds from navigation to the first state drawn (and to the load event), median."""
    ready, loaded = [], []
    for _ in range(rounds):
        driver.get("about:blank")
        driver.get(f"{base}/")
        while not driver.execute_script("return document.body.dataset.ready"):
            time.sleep(0.005)
        ready.append(driver.execute_script("return performance.now()") / 1000)
        timing = driver.execute_script(
            "return performance.getEntriesByType('navigation')[0].loadEventEnd"
        )
        loaded.append(timing / 1000)
    return {
        "first_state_drawn_s": round(statistics.median(ready), 3),
        "load_event_s": round(statistics.median(loaded), 3),
        "rounds": rounds,
        "note": "first_state_drawn_s is measured when polled, so up to 5 ms late",
    }


def screenshot(base: str, driver) -> str:
    """The lecture's demo on the page after L1 training, a weight hovered: docs/playground.png."""
    from PIL import Image
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/")
    while not driver.execute_script("return document.body.dataset.ready"):
        time.sleep(0.01)
    session_id = driver.execute_script("return state.id")
    settings = {**LECTURE, "regularization": "l1", "reg_rate": 0.01}
    call(f"{base}/api/sessions/{session_id}/settings", settings)
    for _ in range(150):
        call(f"{base}/api/sessions/{session_id}/step", method="POST")
    time.sleep(1.5)  # the page's next poll draws it
    weight = driver.find_element(By.ID, "weight-0-0-4")  # x1*x2 -> first unit
    ActionChains(driver).move_to_element(weight).perform()
    time.sleep(0.3)
    raw = ROOT / "docs" / "playground-full.png"
    SCREENSHOT.parent.mkdir(exist_ok=True)
    driver.save_screenshot(str(raw))
    image = Image.open(raw).convert("RGB")
    image = image.resize((image.width * 2 // 3, image.height * 2 // 3), Image.LANCZOS)
    image.quantize(colors=128).save(SCREENSHOT, optimize=True)
    raw.unlink()
    return str(SCREENSHOT.relative_to(ROOT))


def tab(base: str, i: int, latencies: list[float]) -> list[int] | str:
    sets = ("circle", "xor", "gauss", "spiral")
    status, state, seconds = call(
        f"{base}/api/sessions", {"dataset": sets[i % 4], "batch_size": 25}
    )
    latencies.append(seconds)
    if status == 503:
        return "refused"
    session = f"{base}/api/sessions/{state['id']}"
    statuses = [status]
    requests = [("step", None, "POST"), ("play", None, "POST")]
    requests += [("state?since=0", None, None)] * 5
    requests += [("pause", None, "POST"), ("export.toml", None, None)]
    requests += [("settings", {"hidden": [9]}, None)]
    requests += [("close", None, "POST")] if i % 2 else []
    for path, body, method in requests:
        status, _, seconds = call(f"{session}/{path}", body, method)
        statuses.append(status)
        latencies.append(seconds)
        if path.startswith("state"):
            time.sleep(0.05)
    return statuses


def load_test(users: int = 36, max_sessions: int = 24, ttl: float = 3.0) -> dict[str, object]:
    with BackgroundServer(max_sessions=max_sessions, ttl=ttl) as server:
        latencies: list[float] = []
        start = time.perf_counter()
        with ThreadPoolExecutor(users) as pool:
            results = list(pool.map(lambda i: tab(server.url, i, latencies), range(users)))
        elapsed = time.perf_counter() - start
        opened = [r for r in results if r != "refused"]
        statuses = [s for r in opened for s in r]
        unexpected = sum(s not in (200, 201, 204, 422) for s in statuses)
        open_after = len(server.pool.sessions)
        deadline = time.monotonic() + ttl + 5
        while server.pool.sessions and time.monotonic() < deadline:
            time.sleep(0.1)
        return {
            "tabs": users,
            "max_sessions": max_sessions,
            "ttl_s": ttl,
            "opened": len(opened),
            "refused_503": users - len(opened),
            "requests": len(latencies),
            "unexpected_statuses": unexpected,
            "seconds": round(elapsed, 2),
            "requests_per_s": round(len(latencies) / elapsed, 1),
            "latency_p50_ms": round(1000 * float(np.percentile(latencies, 50)), 1),
            "latency_p95_ms": round(1000 * float(np.percentile(latencies, 95)), 1),
            "latency_max_ms": round(1000 * max(latencies), 1),
            "sessions_open_after_load": open_after,
            "sessions_open_after_expiry": len(server.pool.sessions),
            "server_alive": call(f"{server.url}/api/status")[0] == 200,
        }


def l1_vs_l2(base: str, epochs: int = 300, rate: float = 0.01) -> dict[str, object]:
    """The lecture's comparison: the same net with L1 or L2 at one rate; how sparse is layer 1."""
    out: dict[str, object] = {"epochs": epochs, "rate": rate, "network": "7-8-8-8-8-2 tanh"}
    for penalty in ("none", "l1", "l2"):
        settings = {
            **LECTURE,
            "regularization": penalty,
            "reg_rate": 0.0 if penalty == "none" else rate,
        }
        _, state, _ = call(f"{base}/api/sessions", settings)
        session = f"{base}/api/sessions/{state['id']}"
        for _ in range(epochs):
            _, state, _ = call(f"{session}/step", method="POST")
        first = np.abs(np.asarray(state["weights"][0]))
        per_feature = first.max(axis=0)
        out[penalty] = {
            "test_loss": round(state["last"]["test_loss"], 4),
            "train_loss": round(state["last"]["train_loss"], 4),
            "first_layer_weights_below_0.01": f"{int((first < 0.01).sum())} of {first.size}",
            "features_all_weights_below_0.01": [
                f for f, m in zip(ALL_FEATURES, per_feature) if m < 0.01
            ],
            "first_layer_weights_exactly_0": f"{int((first == 0).sum())} of {first.size}",
            "features_all_weights_0": [f for f, m in zip(ALL_FEATURES, per_feature) if m == 0],
        }
        call(f"{session}/close", method="POST")
    return out


def readme_text(results: dict) -> str:
    rate, page, load, demo = (
        results["training"],
        results.get("page_load"),
        results["load_test"],
        results["l1_vs_l2"],
    )
    lines = [
        f"Measured by `python benchmarks/bench_playground.py` ({results['machine']}; the "
        "machine was shared with other jobs while it ran):",
        "",
        f"- training a {rate['network']}: **{rate['epochs_per_s']} epochs/s** "
        f"({rate['steps_per_s']:.0f} optimiser steps/s); the polling page received "
        f"{rate['state_updates_per_s']} state updates/s (the server makes at most 10).",
    ]
    if page:
        lines.append(
            f"- page load in headless Chromium: first state drawn after "
            f"**{1000 * page['first_state_drawn_s']:.0f} ms**, load event at "
            f"{1000 * page['load_event_s']:.0f} ms (median of {page['rounds']})."
        )
    lines.append(
        f"- load test: {load['tabs']} tabs at once, at most {load['max_sessions']} sessions: "
        f"{load['opened']} opened, {load['refused_503']} refused (503), {load['requests']} "
        f"requests in {load['seconds']} s, latency p50 {load['latency_p50_ms']} ms / p95 "
        f"{load['latency_p95_ms']} ms, {load['unexpected_statuses']} unexpected answers; "
        f"{load['sessions_open_after_expiry']} sessions left once idle ones expired."
    )
    row = "| {} | {} | {} | {} | {} | {} |"
    lines += [
        "",
        f"L1 against L2 at rate {demo['rate']} after {demo['epochs']} epochs ({demo['network']}, "
        "all seven features, Gaussian set, noise 50):",
        "",
        "| penalty | training loss | test loss | first-layer weights under 0.01 | exactly 0 "
        "| features cut off (all their weights 0) |",
        "|---|---|---|---|---|---|",
    ]
    for penalty in ("none", "l1", "l2"):
        r = demo[penalty]
        cut = ", ".join(r["features_all_weights_0"]) or "none"
        lines.append(
            row.format(
                penalty.upper() if penalty != "none" else "none",
                r["train_loss"],
                r["test_loss"],
                r["first_layer_weights_below_0.01"],
                r["first_layer_weights_exactly_0"],
                cut,
            )
        )
    return "\n".join(lines)


def write_readme(results: dict) -> None:
    replace_between(README, BEGIN, END, readme_text(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readme", action="store_true", help="only rewrite the README paragraph")
    parser.add_argument("--screenshot", action="store_true", help="only take docs/playground.png")
    args = parser.parse_args()
    if args.screenshot:
        driver = browser()
        if driver is None:
            raise SystemExit("needs chromium and chromedriver")
        with BackgroundServer(max_sessions=2) as server:
            try:
                print(screenshot(server.url, driver))
            finally:
                driver.quit()
        return
    if not args.readme:
        results: dict[str, object] = {"machine": machine_words()}
        with BackgroundServer(max_sessions=8) as server:
            results["training"] = training_rate(server.url)
            print(results["training"], flush=True)
            driver = browser()
            if driver is None:
                print("no chromium/chromedriver: page load and screenshot skipped", file=sys.stderr)
            else:
                try:
                    results["page_load"] = page_load(server.url, driver)
                    print(results["page_load"], flush=True)
                    results["screenshot"] = screenshot(server.url, driver)
                finally:
                    driver.quit()
            results["l1_vs_l2"] = l1_vs_l2(server.url)
            print(results["l1_vs_l2"], flush=True)
        results["load_test"] = load_test()
        print(results["load_test"], flush=True)
        RESULTS.parent.mkdir(exist_ok=True)
        atomic_write_text(RESULTS, json.dumps(results, indent=2) + "\n")
    write_readme(json.loads(RESULTS.read_text()))


def machine_words() -> str:
    info = machine()
    return f"{info['cpu']}, {info['cores']} cores, NumPy {info['numpy']}"


if __name__ == "__main__":
    main()
