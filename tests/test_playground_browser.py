"""The playground as a student uses it, in headless Chromium: the lecture's L1 demo.

Needs Debian's ``chromium`` and ``chromium-driver`` (``apt-get install -y chromium
chromium-driver``) and the ``selenium`` client; skipped, with the reason, without them.
"""

import json
import shutil
import urllib.request

import numpy as np
import pytest

pytest.importorskip("starlette")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
if not (CHROMIUM and DRIVER):
    pytest.skip(
        "needs Debian's chromium and chromium-driver: apt-get install -y chromium chromium-driver",
        allow_module_level=True,
    )
webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (the dev extra)")
Image = pytest.importorskip(
    "PIL.Image", reason="needs Pillow (with matplotlib) to read the screenshot"
)

from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from chainrule.playground.server import BackgroundServer  # noqa: E402

TEST_LOSS = 0.4  # Gaussian clusters at noise 50 overlap: a good network gets to about 0.3


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1500,950")
    driver = webdriver.Chrome(service=webdriver.ChromeService(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def text(driver, element_id):
    return driver.find_element(By.ID, element_id).text


def session_state(server, driver):
    session_id = driver.execute_script("return state.id")
    with urllib.request.urlopen(f"{server.url}/api/sessions/{session_id}/state") as response:
        return json.load(response)


def test_gaussian_noise_and_l1_train_in_the_browser_and_show_the_weights(browser, tmp_path):
    """The lecture's steps, then a second tab: a session of its own, the first one untouched."""
    with BackgroundServer(max_sessions=4) as server:
        wait = WebDriverWait(browser, 60, poll_frequency=0.1)
        browser.get(f"{server.url}/")
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))

        browser.find_element(By.ID, "dataset-gauss").click()
        wait.until(
            lambda d: "selected" in d.find_element(By.ID, "dataset-gauss").get_attribute("class")
        )
        browser.find_element(By.ID, "noise").send_keys(Keys.END)  # the slider's top: noise 50
        wait.until(lambda d: session_state(server, d)["settings"]["noise"] == 0.5)
        Select(browser.find_element(By.ID, "regularization")).select_by_value("l1")
        wait.until(lambda d: session_state(server, d)["settings"]["regularization"] == "l1")
        Select(browser.find_element(By.ID, "reg_rate")).select_by_value("0.003")
        wait.until(lambda d: session_state(server, d)["settings"]["reg_rate"] == 0.003)

        browser.find_element(By.ID, "play").click()
        wait.until(lambda d: d.find_element(By.ID, "play").get_attribute("data-playing") == "true")
        WebDriverWait(browser, 120, poll_frequency=0.2).until(
            lambda d: (
                text(d, "test-loss") not in ("", "-") and float(text(d, "test-loss")) < TEST_LOSS
            )
        )
        browser.find_element(By.ID, "play").click()
        wait.until(lambda d: d.find_element(By.ID, "play").get_attribute("data-playing") == "false")

        weight = browser.find_element(By.ID, "weight-0-0-0")  # x1 -> the first hidden unit
        ActionChains(browser).move_to_element(weight).perform()
        tooltip = wait.until(
            lambda d: (
                d.find_element(By.ID, "tooltip").is_displayed() and d.find_element(By.ID, "tooltip")
            )
        )
        screenshot = tmp_path / "playground.png"
        assert browser.save_screenshot(str(screenshot))
        print(f"screenshot: {screenshot}")

        state = session_state(server, browser)
        assert state["settings"]["dataset"] == "gauss" and state["settings"]["noise"] == 0.5
        assert state["playing"] is False and state["epoch"] >= 1
        assert state["last"]["test_loss"] < TEST_LOSS
        assert int(text(browser, "epoch")) == state["epoch"]
        assert text(browser, "noise-value") == "50"
        assert tooltip.text.startswith("weight x1 \u2192 layer 1 unit 1: ")
        assert float(tooltip.get_attribute("data-weight")) == state["weights"][0][0][0]
        assert "disabled" not in browser.find_element(By.ID, "export-toml").get_attribute("class")
        assert browser.find_elements(By.CSS_SELECTOR, "#doctor .finding, #doctor .hint")
        assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]

        image = Image.open(screenshot).convert("RGB")
        assert len(image.getcolors(maxcolors=1 << 20)) > 200, "the screenshot is nearly one colour"
        box = browser.find_element(By.ID, "surface").rect
        surface = image.crop(
            (box["x"], box["y"], box["x"] + box["width"], box["y"] + box["height"])
        )
        r, g, b = np.asarray(surface, dtype=np.int32).transpose(2, 0, 1)
        orange = ((r - b > 60) & (r > g)).mean()  # class 0's side
        blue = (b - r > 60).mean()  # class 1's side
        assert orange > 0.2 and blue > 0.2, (
            f"no decision surface drawn ({orange=:.2f}, {blue=:.2f})"
        )

        first = browser.current_window_handle
        browser.switch_to.new_window("tab")
        browser.get(f"{server.url}/")
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
        second = session_state(server, browser)
        assert second["id"] != state["id"] and second["epoch"] == 0
        assert second["settings"]["dataset"] == "circle"
        browser.switch_to.window(first)
        assert session_state(server, browser)["weights"] == state["weights"]
        assert len(server.pool.sessions) == 2
