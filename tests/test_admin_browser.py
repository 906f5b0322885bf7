"""The admin page in a real headless Chromium (Debian's chromium + chromium-driver, driven by
selenium): sign in, watch a device connect, edit a user, change a setting and the password."""
import base64
import hashlib
import json
import shutil

import pytest

from blynklite.codec.commands import Status
from devices import device, new_account, open_app

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="Debian's chromium and chromium-driver are not installed "
                                       "(apt-get install -y chromium chromium-driver)")
ADMIN_EMAIL, ADMIN_PASS = "admin@blynk.cc", "admin-test-pass"
WAIT = 10


@pytest.fixture
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--ignore-certificate-errors", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT)
    yield driver
    driver.quit()


def admin_url(server, path="/admin"):
    return f"https://127.0.0.1:{server.app_port}{path}"


def wait(driver):
    return WebDriverWait(driver, WAIT)


def sign_in(driver, server, password=ADMIN_PASS):
    driver.get(admin_url(server))
    driver.find_element(By.ID, "email").send_keys(ADMIN_EMAIL)
    driver.find_element(By.ID, "password").send_keys(password)
    form = driver.find_element(By.ID, "login")
    form.find_element(By.TAG_NAME, "button").click()
    # The answer (a redirect to /admin) has loaded once the form is stale. While Chromium is still
    # navigating it may answer "Node ... does not belong to the document" instead: ask again.
    WebDriverWait(driver, WAIT, ignored_exceptions=[WebDriverException]).until(EC.staleness_of(form))


def signed_in(driver):
    wait(driver).until(EC.presence_of_element_located((By.ID, "sign-out")))


def table_text(driver, table_id):
    return driver.find_element(By.ID, table_id).text


def search_users(driver, text):
    """Type into the user search and wait until the table shows the answer for the whole text."""
    driver.find_element(By.ID, "user-search").send_keys(text)
    wait(driver).until(lambda d: d.find_element(By.ID, "user-table").get_attribute("aria-busy") == "false")


def status_text(driver):
    return driver.find_element(By.ID, "status").text


def page_fetch(driver, path):
    """GET `path` from inside the page, with its (HttpOnly) session cookie: (status, body text)."""
    driver.set_script_timeout(WAIT)
    return driver.execute_async_script(
        "var done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {credentials: 'same-origin'})"
        ".then(function (r) { return r.text().then(function (t) { done([r.status, t]); }); })"
        ".catch(function (e) { done([0, String(e)]); });", path)


def test_wrong_password_shows_why(browser, server):
    sign_in(browser, server, password="wrong")
    message = wait(browser).until(EC.visibility_of_element_located((By.ID, "message")))
    assert "Wrong e-mail or password" in message.text
    assert browser.find_elements(By.ID, "sign-out") == []


def test_repeated_failures_lock_the_address_out(browser, server):
    for _ in range(5):
        sign_in(browser, server, password="wrong")
        wait(browser).until(EC.visibility_of_element_located((By.ID, "message")))
    sign_in(browser, server)          # even the right password, once locked out
    message = wait(browser).until(EC.visibility_of_element_located((By.ID, "message")))
    assert "Too many failed sign-ins" in message.text


def test_sign_in_and_watch_a_device_connect(browser, server):
    sign_in(browser, server)
    signed_in(browser)
    wait(browser).until(lambda d: ADMIN_EMAIL in table_text(d, "user-table"))
    email = new_account(server)
    app = open_app(server, email)
    _, _, token = app.new_device("Garage door")
    with device(server) as hw:
        assert hw.login(token) == Status.OK
        wait(browser).until(lambda d: "Garage door" in table_text(d, "connections"))
        assert email in table_text(browser, "connections")
    wait(browser).until(lambda d: "Garage door" not in table_text(d, "connections"))
    app.close()


def test_edit_a_user_from_the_table(browser, server):
    email = new_account(server)
    sign_in(browser, server)
    signed_in(browser)
    search_users(browser, email[:10])
    assert email in table_text(browser, "user-table") and ADMIN_EMAIL not in table_text(browser, "user-table")
    browser.find_element(By.CSS_SELECTOR, "#user-table tbody button").click()
    energy = browser.find_element(By.ID, "user-energy")
    energy.clear()
    energy.send_keys("4321")
    browser.find_element(By.CSS_SELECTOR, "#user-form button[type=submit]").click()
    wait(browser).until(lambda d: f"Saved {email}" in status_text(d))
    wait(browser).until(lambda d: "4321" in table_text(d, "user-table"))
    status, text = page_fetch(browser, f"/admin/users/{email}-Blynk")
    assert status == 200 and json.loads(text)["energy"] == 4321


def test_delete_a_user_after_confirming(browser, server):
    email = new_account(server)
    sign_in(browser, server)
    signed_in(browser)
    search_users(browser, email)
    assert email in table_text(browser, "user-table") and ADMIN_EMAIL not in table_text(browser, "user-table")
    browser.find_element(By.CSS_SELECTOR, "#user-table tbody button").click()
    browser.find_element(By.ID, "user-delete").click()
    alert = wait(browser).until(EC.alert_is_present())
    assert email in alert.text
    alert.accept()
    wait(browser).until(lambda d: f"Deleted {email}" in status_text(d))
    assert email not in table_text(browser, "user-table")
    assert page_fetch(browser, f"/admin/users/{email}-Blynk")[0] == 404


def test_change_a_setting(browser, make_server):
    # A value with a backslash: saving another setting must leave it exactly as it is in the file.
    server = make_server(custom_note="C:\\\\blynk")
    sign_in(browser, server)
    signed_in(browser)
    browser.find_element(By.ID, "settings-filter").send_keys("notifications.frequency")
    field = wait(browser).until(EC.presence_of_element_located(
        (By.CSS_SELECTOR, "input[name='notifications.frequency.user.quota.limit']")))
    field.clear()
    field.send_keys("7")
    browser.find_element(By.CSS_SELECTOR, "#settings-form button").click()
    wait(browser).until(lambda d: "Saved: notifications.frequency.user.quota.limit." in status_text(d))
    status, text = page_fetch(browser, "/admin/config/server.properties")
    assert status == 200
    assert "notifications.frequency.user.quota.limit=7\n" in json.loads(text)["body"]
    saved = (server.workdir / "server.properties").read_text()
    assert "notifications.frequency.user.quota.limit=7\n" in saved
    assert "custom.note=C:\\\\blynk\n" in saved


def test_a_bad_setting_shows_the_error(browser, server):
    sign_in(browser, server)
    signed_in(browser)
    browser.find_element(By.ID, "settings-filter").send_keys("web.request.max.size")
    field = wait(browser).until(EC.presence_of_element_located((By.CSS_SELECTOR, "input[name='web.request.max.size']")))
    field.clear()
    field.send_keys("lots")
    browser.find_element(By.CSS_SELECTOR, "#settings-form button").click()
    wait(browser).until(lambda d: "web.request.max.size" in status_text(d))
    assert "error" in browser.find_element(By.ID, "status").get_attribute("class")


def test_change_the_password_then_sign_in_again(browser, server):
    sign_in(browser, server)
    signed_in(browser)
    browser.find_element(By.ID, "current-password").send_keys(ADMIN_PASS)
    browser.find_element(By.ID, "new-password").send_keys("a-much-better-one")
    browser.find_element(By.CSS_SELECTOR, "#password-form button").click()
    wait(browser).until(lambda d: "password was changed" in status_text(d))
    browser.find_element(By.ID, "sign-out").click()
    wait(browser).until(EC.presence_of_element_located((By.ID, "login")))
    assert page_fetch(browser, "/admin/users")[0] == 404          # the cookie is gone
    sign_in(browser, server)                                        # the old password no longer works
    wait(browser).until(EC.visibility_of_element_located((By.ID, "message")))
    sign_in(browser, server, password="a-much-better-one")
    signed_in(browser)


def test_a_wrong_current_password_is_refused(browser, server):
    sign_in(browser, server)
    signed_in(browser)
    browser.find_element(By.ID, "current-password").send_keys("not-it")
    browser.find_element(By.ID, "new-password").send_keys("a-much-better-one")
    browser.find_element(By.CSS_SELECTOR, "#password-form button").click()
    wait(browser).until(lambda d: "current password is wrong" in status_text(d))
    assert "error" in browser.find_element(By.ID, "status").get_attribute("class")


@pytest.mark.parametrize("password, email", [("123", "test@gmail.com"), ("pässwörd ✓", "Mixed.Case@Example.com"),
                                             ("x" * 200, "a@b.c")])
def test_the_page_hashes_passwords_like_the_apps(browser, server, password, email):
    browser.get(admin_url(server))
    in_browser = browser.execute_script("return BlynkHash.passwordHash(arguments[0], arguments[1]);", password, email)
    salt = hashlib.sha256(email.lower().encode()).digest()
    expected = base64.b64encode(hashlib.sha256(password.encode() + salt).digest()).decode()
    assert in_browser == expected
    if email == "test@gmail.com":
        assert expected == "/pyQf3JCj5XoczfsYJ4LUb+y0DONGMl/AFzLiBTo8LA="   # spec/app.md test vector


def test_the_page_sha256_matches_hashlib_at_every_padding_edge(browser, server):
    browser.get(admin_url(server))
    texts = ["", "abc", "ü€😀"] + ["a" * n for n in (55, 56, 57, 63, 64, 65, 119, 120, 1000)]
    in_browser = browser.execute_script(
        "return arguments[0].map(function (t) {"
        "  return BlynkHash.sha256(BlynkHash.utf8(t)).map(function (b) { return ('0' + b.toString(16)).slice(-2); }).join('');"
        "});", texts)
    assert in_browser == [hashlib.sha256(t.encode()).hexdigest() for t in texts]
