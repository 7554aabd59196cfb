"""The server's HTML pages in a real headless Chromium, against a real `arena serve`: a
tournament page that shows its progress and then, without a reload, its ratings; an agent's
manifest; a match's video (rendered on first request, cached, playable) and plots; the 404
page; a head-to-head series; and the ladder's leaderboard on /."""
import os
import time

import pytest
from serving import RULES, mlp_policy

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
    if os.environ.get("CI"):  # `make test` installs them: in CI a missing browser is a failure, not a skip
        pytest.fail(f"CI: the page tests need Debian's chromium and chromedriver ({CHROMIUM}, {CHROMEDRIVER})", pytrace=False)
    pytest.skip(f"the page tests need Debian's chromium and chromedriver ({CHROMIUM}, {CHROMEDRIVER})", allow_module_level=True)
pytest.importorskip("selenium", reason="the page tests drive the browser with selenium")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
# IPD agents of known strategy that share one compiled function (scripted agents of different
# rules compile once per lineup, ~6 s each on the tests' cold compilation cache).
NAMES = ("tft", "alld", "allc")


@pytest.fixture(scope="module")
def browser():
    options = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1600", "--mute-audio"):
        options.add_argument(arg)
    options.binary_location = CHROMIUM
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def ids(server, tmp_path_factory):
    folder = tmp_path_factory.mktemp("agents")
    return {name: server.upload(mlp_policy(folder / f"{name}.ckpt", name, RULES[name]).read_bytes()).json()["id"] for name in NAMES}


@pytest.fixture(scope="module")
def tid(server, ids):
    """A round-robin, posted and not waited for: the first test sees it run."""
    resp = server.tournament({"mode": "roundrobin", "agents": list(ids.values()), "episodes": 4, "seeds": 1, "seed": 5})
    assert resp.status_code == 202, resp.text
    return resp.json()["id"]


@pytest.fixture(scope="module")
def finished(server, tid):
    return server.wait(tid, timeout=120)


def wait(browser, condition, timeout=60, what="the condition"):
    return WebDriverWait(browser, timeout, poll_frequency=0.2).until(lambda d: condition(d), message=f"{what} within {timeout} s")


def test_tournament_page_shows_progress_then_its_ratings(browser, server, tid):
    browser.get(f"{server.url}/tournaments/{tid}")
    main = browser.find_element(By.TAG_NAME, "main")
    assert main.get_attribute("data-poll") == f"/api/v1/tournaments/{tid}", "the page of a running tournament polls the API"
    assert browser.find_element(By.CSS_SELECTOR, "[data-field=cells_total]").text == "9"
    assert browser.find_element(By.CSS_SELECTOR, "[data-field=status]").text in ("queued", "running")
    assert browser.find_element(By.TAG_NAME, "progress").get_attribute("max") == "9"
    browser.execute_script("window.notReloaded = true")
    # The poller fills the numbers in, then swaps the finished page's <main> in: no reload.
    wait(browser, lambda d: d.find_elements(By.ID, "ratings"), timeout=120, what="the ratings table")
    assert browser.execute_script("return window.notReloaded") is True
    assert browser.find_element(By.CSS_SELECTOR, "[data-field=status]").text == "finished"
    assert browser.find_element(By.CSS_SELECTOR, "[data-field=cells_done]").text == "9"
    assert browser.find_element(By.TAG_NAME, "main").get_attribute("data-poll") is None
    rows = browser.find_elements(By.CSS_SELECTOR, "#ratings tbody tr")
    assert sorted(r.find_element(By.TAG_NAME, "a").text for r in rows) == ["allc", "alld", "tft"]
    assert rows[0].find_element(By.TAG_NAME, "a").text == "alld"  # always-defect wins the round-robin
    cells = browser.find_elements(By.CSS_SELECTOR, "#heatmap tbody td")
    assert len(cells) == 9 and all("background" in c.get_attribute("style") for c in cells)
    # Row agent's return: tft vs alld 99 (cheated once), alld vs tft 104, alld vs allc 500.
    # (three significant digits, as every table prints them: issue 10)
    assert [cells[k].text.split()[0] for k in (1, 3, 5)] == ["99.0", "104", "500"]
    assert len(browser.find_elements(By.CSS_SELECTOR, "#matches tbody a[href^='/matches/']")) == 9
    # The numbers are the API's report.
    report = server.http.get(f"/api/v1/tournaments/{tid}").json()["report"]
    best = report["roundrobin"]["ratings"][0]
    assert rows[0].find_elements(By.TAG_NAME, "td")[1].text == f"{best['elo']:.0f}"


def test_agent_page_shows_its_manifest_and_matches(browser, server, ids, finished):
    browser.get(f"{server.url}/agents/{ids['tft']}")
    assert browser.find_element(By.ID, "agent-name").text == "tft"
    manifest = browser.find_element(By.ID, "manifest").text
    assert "mlp_actor_critic" in manifest and ids["tft"] in manifest and "probs" in manifest
    assert "active" in browser.find_element(By.CSS_SELECTOR, "p.status").text
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#matches a[href*='/matches/']")]
    assert len(links) == 5  # tft's row and column of the 3x3 round-robin
    browser.get(f"{server.url}/agents/{ids['tft'][:12]}")  # a unique prefix is enough
    assert browser.find_element(By.ID, "agent-name").text == "tft"


def test_match_page_plays_the_replay_video_and_plots_the_extras(browser, server, tid, finished):
    match = next(m for m in server.http.get("/api/v1/matches", params={"tournament": tid}).json()["matches"]
                 if m["names"] == ["alld", "allc"])
    browser.get(f"{server.url}/matches/{match['id']}")
    assert "row: alld" in browser.find_element(By.ID, "match").text and "col: allc" in browser.find_element(By.ID, "match").text
    plots = browser.find_elements(By.CSS_SELECTOR, "#plots svg.plot")
    titles = [p.find_element(By.TAG_NAME, "title").get_attribute("textContent") for p in plots]
    extras = list(server.http.get(f"/api/v1/agents/{match['agents'][0]}").json()["manifest"]["extras"])
    assert "probs" in extras and "value" in extras
    assert titles == [f"{x}, {side}: {name}" for side, name in (("row", "alld"), ("col", "allc")) for x in [*extras, "reward"]]
    assert all(p.find_elements(By.TAG_NAME, "polyline") for p in plots)
    started = time.time()
    state = wait(browser, lambda d: d.execute_script(
        "const v = document.getElementById('replay-video');"
        "return v.error ? {error: v.error.code} : (v.readyState >= 1 ? {ready: v.readyState, duration: v.duration} : null)"),
        timeout=60, what="the video's metadata")
    assert "error" not in state, state
    assert state["duration"] > 0, state
    rendered = time.time() - started
    cached = server.data / "videos" / f"{match['id']}.mp4"
    assert cached.stat().st_size > 1000 and not list(cached.parent.glob(".*tmp*"))
    # Cached: the next request is served from disk, with byte ranges (browsers seek with them).
    started = time.time()
    part = server.http.get(f"/matches/{match['id']}/video", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == cached.read_bytes()[:100] and part.headers["content-type"] == "video/mp4"
    assert time.time() - started < 1.0, f"served from the cache (the render took {rendered:.1f} s)"


def test_unknown_ids_get_the_404_page(browser, server, tid):
    for path in ["/agents/ffffffff", "/agents/not-an-id", "/tournaments/0123456789ab",
                 "/matches/nope", f"/matches/{tid}-999", "/matches/0123456789ab-0/video"]:
        resp = server.http.get(path)
        assert resp.status_code == 404, (path, resp.status_code, resp.text[:200])
        assert resp.headers["content-type"].startswith("text/html") and "Traceback" not in resp.text, path
    browser.get(f"{server.url}/agents/ffffffff")
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("404")
    assert "no agent" in browser.find_element(By.ID, "error-message").text


def test_series_page_shows_the_sprt(browser, server, ids, finished):
    request = {"mode": "sprt", "agents": [ids["alld"], ids["tft"]], "episodes": 4, "max_batches": 1}
    resp = server.tournament(request)
    assert resp.status_code == 202, resp.text
    view = server.wait(resp.json()["id"], timeout=120)
    browser.get(f"{server.url}/tournaments/{view['id']}")
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("Head-to-head series")
    assert browser.find_element(By.ID, "decision").text == (view["sprt"]["decision"] or "not yet")
    assert [a.text for a in browser.find_elements(By.CSS_SELECTOR, "main p a[href^='/agents/']")] == ["alld", "tft"]
    batches = browser.find_elements(By.CSS_SELECTOR, "main ul a[href^='/tournaments/']")
    assert [b.text for b in batches] == view["batches"]
    # A series is a tournament row without cells of its own: the agents' pages still list their matches.
    browser.get(f"{server.url}/agents/{ids['alld']}")
    assert browser.find_element(By.ID, "agent-name").text == "alld"
    assert server.http.get("/api/v1/export").status_code == 200
    browser.get(f"{server.url}/")
    assert browser.find_element(By.CSS_SELECTOR, f"#series a[href='/tournaments/{view['id']}']").text == view["id"]
    assert view["batches"][-1] in browser.find_element(By.ID, "rounds").text  # batches are counted, not listed


def test_front_page_lists_the_tournaments(browser, server, tid, finished):
    browser.get(f"{server.url}/")
    link = browser.find_element(By.CSS_SELECTOR, f"#tournaments a[href='/tournaments/{tid}']")
    assert link.text == tid
    assert "finished" in browser.find_element(By.ID, "tournaments").text
    css = server.http.get("/static/arena.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def test_leaderboard_shows_the_ladders_agents(browser, server, ids, finished):
    # Last: a ladder keeps the worker busy from here on. It plays the agents already submitted.
    resp = server.http.post("/api/v1/ladders", json={"env": "ipd", "episodes_per_match": 4, "pairs_per_round": 3},
                            headers=server.auth())
    assert resp.status_code == 201, resp.text
    browser.get(f"{server.url}/")
    assert browser.find_element(By.TAG_NAME, "main").get_attribute("data-refresh"), "a page with a ladder refreshes itself"
    assert browser.find_elements(By.CSS_SELECTOR, "table.leaderboard[data-env=ipd]")

    def board(d):
        # Read in one script: the page swaps its <main> every few seconds, so elements go stale.
        return d.execute_script("const t = document.querySelector('table.leaderboard[data-env=ipd]');"
                                "return t && [...t.querySelectorAll('tbody a')].map(a => [a.textContent, a.href]);")

    wait(browser, lambda d: sorted(name for name, _ in board(d) or []) == sorted(NAMES), timeout=120,
         what="the ipd leaderboard with every agent")
    links = dict(board(browser))
    rows = server.http.get("/api/v1/leaderboard", params={"env": "ipd"}).json()["rows"]
    assert links == {r["name"]: f"{server.url}/agents/{r['id']}" for r in rows}
    assert ids["alld"] in links["alld"]
