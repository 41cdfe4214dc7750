"""The account pages by keyboard alone in Chromium: sign up, log out and in, password reset.

Every control is found by its accessible name (``get_by_label`` / ``get_by_role``, which fail
for an unlabelled one) and reached with Tab / Shift+Tab in the page's order; text is typed and
forms are sent with Enter.  No clicks: the only navigation by URL is the reset link, opened from
the e-mail a real SMTP server (aiosmtpd) received.

What a reader is told is checked where a screen reader hears it: the form's error box
(``role=alert``, ``app.js`` fills it from the API's refusal) and statuses (``role=status``);
for a too-short password the page relies on the browser's own constraint validation
(``minlength``), whose message Chromium puts in the accessibility tree as an alert of its own
(and marks the field invalid) — read there through the DevTools protocol, as no DOM element
holds it.  The focus stays where the reader was after every refusal.

On SQLite and PostgreSQL (the ``database_url`` fixture's two databases).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, Request, expect

from tests.browser.conftest import PASSWORD, Shots, Site, Tab, wait_until
from tests.browser.keys import tab_to
from tests.smtpserver import Mailbox, running_smtp_server, smtp_url
from tidings.config import Settings

NEW_PASSWORD = "another quite long passphrase"
HOME = re.compile(r"^http://127\.0\.0\.1:\d+/$")


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) that keeps what it receives."""
    with running_smtp_server() as box:
        yield box


@pytest.fixture
def settings(settings: Settings, mailbox: Mailbox) -> Settings:
    """The tests' settings, sending e-mail to ``mailbox`` (so password reset is offered)."""
    return dataclasses.replace(
        settings, smtp_url=smtp_url(mailbox), smtp_from="tidings@example.com"
    )


# -- keyboard and what is announced -----------------------------------------------------------


def expect_tab_order(page: Page, controls: list[Locator]) -> None:
    """From the first of ``controls`` (focused), Tab reaches each next one in turn, and
    Shift+Tab goes back through them all."""
    expect(controls[0]).to_be_focused()
    for control in controls[1:]:
        page.keyboard.press("Tab")
        expect(control).to_be_focused()
    for control in reversed(controls[:-1]):
        page.keyboard.press("Shift+Tab")
        expect(control).to_be_focused()


def retype(page: Page, text: str) -> None:
    """Replace the focused field's text, as a reader does: select all, type."""
    page.keyboard.press("Control+A")
    page.keyboard.type(text)


class Accessibility:
    """A page's accessibility tree through the DevTools protocol: what a screen reader gets,
    including what is in no DOM element (Chromium's form validation message)."""

    def __init__(self, page: Page) -> None:
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("Accessibility.enable")

    def nodes(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(role, name, properties) of each node a screen reader gets (not the ignored)."""
        tree = self.cdp.send("Accessibility.getFullAXTree")
        return [
            (
                node.get("role", {}).get("value", ""),
                node.get("name", {}).get("value", ""),
                {p["name"]: p["value"].get("value") for p in node.get("properties", [])},
            )
            for node in tree["nodes"]
            if not node.get("ignored")
        ]

    def wait_for_alert(self, pattern: str) -> str:
        """The text of a live alert matching ``pattern`` once the tree has one."""

        def alerts() -> list[str]:
            return [name for role, name, _ in self.nodes() if role == "alert"]

        return wait_until(
            lambda: next((a.strip() for a in alerts() if re.search(pattern, a)), None),
            f"an alert matching {pattern!r} in the accessibility tree",
            explain=lambda: f"alerts: {alerts()!r}",
        )

    def is_invalid(self, role: str, name: str) -> bool:
        """Whether the tree marks the control ``role`` named ``name`` invalid."""
        for found_role, found_name, props in self.nodes():
            if (found_role, found_name) == (role, name):
                return props.get("invalid") == "true"
        raise AssertionError(f"no {role} {name!r} in the accessibility tree")

    def close(self) -> None:
        self.cdp.detach()


def signed_in_as(tab: Tab) -> str | None:
    """Whose session the context's cookies carry (``GET /api/v1/auth/session``), or None."""
    reply = tab.context.request.get("/api/v1/auth/session")
    if reply.status == 401:
        return None
    assert reply.ok, reply.text()
    email: str = reply.json()["user"]["email"]
    return email


def expect_home_signed_in(page: Page, tab: Tab, email: str) -> None:
    expect(page).to_have_url(HOME)
    expect(page.get_by_role("heading", level=1)).to_have_text("Latest stories")
    expect(page.get_by_role("button", name="Log out", exact=True)).to_be_visible()
    expect(page.locator("body")).to_have_attribute("data-signed-in", "yes")
    assert signed_in_as(tab) == email


def api_calls(page: Page, path: str) -> list[str]:
    """The requests the page makes to ``path`` from now on (method, as they go)."""
    calls: list[str] = []

    def note(request: Request) -> None:
        if request.url.split("?")[0].endswith(path):
            calls.append(request.method)

    page.on("request", note)
    return calls


# -- the tests ----------------------------------------------------------------------------------


def test_sign_up_by_keyboard(site: Site, open_context: Any, shots: Shots) -> None:
    site.add_reader("taken@example.com")
    tab: Tab = open_context()
    page = tab.new_page()
    signups = api_calls(page, "/api/v1/auth/signup")
    page.goto("/signup")
    email = page.get_by_label("E-mail", exact=True)
    password = page.get_by_label("Password", exact=True)
    submit = page.get_by_role("button", name="Sign up", exact=True)
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign up")
    expect(password).to_have_accessible_description("At least 8 characters.")
    expect_tab_order(page, [email, password, submit, page.get_by_role("link", name="Log in")])
    tab_to(page, page.get_by_role("link", name="Tidings", exact=True), backwards=True)
    tab_to(page, email)

    # A too-short password: the browser's own check holds the form back, says why in an
    # alert and leaves the focus in the field.
    ax = Accessibility(page)
    page.keyboard.type("new@example.com")
    page.keyboard.press("Tab")
    page.keyboard.type("short")
    page.keyboard.press("Enter")
    said = ax.wait_for_alert(r"8 characters or more")
    assert "currently using 5 characters" in said, said
    expect(password).to_be_focused()
    assert ax.is_invalid("textbox", "Password")
    assert password.evaluate("(el) => el.validity.tooShort")
    assert signups == [], "the form was sent with a too-short password"
    shots.take(page, "signup-too-short")

    # A taken address: the API refuses, the form's alert says so, the focus stays.
    retype(page, PASSWORD)
    tab_to(page, email, backwards=True)
    retype(page, "Taken@example.com")
    page.keyboard.press("Enter")
    alert = page.get_by_role("alert")
    expect(alert).to_have_text("a reader with the e-mail 'taken@example.com' already exists")
    expect(email).to_be_focused()
    assert signups == ["POST"]
    assert not ax.is_invalid("textbox", "Password")
    expect(page).to_have_url(re.compile(r"/signup$"))
    assert signed_in_as(tab) is None
    shots.take(page, "signup-taken")

    # A too-short password after that: the browser holds the form back again, and the
    # server's earlier refusal does not stay on screen beside the browser's message.
    tab_to(page, password)
    retype(page, "short")
    page.keyboard.press("Enter")
    expect(page.locator("#signup-form [data-error]")).to_be_hidden()
    expect(password).to_be_focused()
    assert password.evaluate("(el) => el.validity.tooShort")
    assert signups == ["POST"]
    retype(page, PASSWORD)
    tab_to(page, email, backwards=True)

    # Fixed: signed in, on the home page.
    retype(page, "new@example.com")
    page.keyboard.press("Enter")
    expect_home_signed_in(page, tab, "new@example.com")
    shots.take(page, "signup-home")
    ax.close()
    tab.assert_no_page_errors()


def test_log_out_and_log_in_by_keyboard(site: Site, open_context: Any, shots: Shots) -> None:
    site.add_reader("reader@example.com")
    tab: Tab = open_context()
    tab.sign_in("reader@example.com")
    page = tab.open("/")
    expect_home_signed_in(page, tab, "reader@example.com")

    tab_to(page, page.get_by_role("button", name="Log out", exact=True))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/login$"))
    assert signed_in_as(tab) is None
    assert not [c for c in tab.context.cookies() if c["name"] == "tidings_session"]

    email = page.get_by_label("E-mail", exact=True)
    password = page.get_by_label("Password", exact=True)
    submit = page.get_by_role("button", name="Log in", exact=True)
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    expect_tab_order(
        page,
        [
            email,
            password,
            submit,
            page.get_by_role("link", name="Sign up", exact=True),
            page.get_by_role("link", name="Forgot your password?", exact=True),
        ],
    )

    # A wrong password: refused in the form's alert, the focus stays, nothing else changes.
    logins = api_calls(page, "/api/v1/auth/login")
    page.keyboard.type("reader@example.com")
    page.keyboard.press("Tab")
    page.keyboard.type("not the password")
    page.keyboard.press("Enter")
    alert = page.get_by_role("alert")
    expect(alert).to_have_text("wrong e-mail or password")
    expect(password).to_be_focused()
    assert logins == ["POST"]
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(email).to_have_value("reader@example.com")
    expect(page.locator("body")).to_have_attribute("data-signed-in", "no")
    assert signed_in_as(tab) is None
    assert not [c for c in tab.context.cookies() if c["name"] == "tidings_session"]
    shots.take(page, "login-wrong-password")

    # The right one, sent from the button: the home page, signed in.
    retype(page, PASSWORD)
    page.keyboard.press("Tab")
    expect(submit).to_be_focused()
    page.keyboard.press("Enter")
    expect_home_signed_in(page, tab, "reader@example.com")
    shots.take(page, "login-home")
    tab.assert_no_page_errors()


def test_password_reset_by_keyboard_through_real_email(
    site: Site, open_context: Any, shots: Shots, mailbox: Mailbox
) -> None:
    address = "forgetful@example.com"
    site.add_reader(address)
    elsewhere: Tab = open_context()  # a session on another device, ended by the reset
    elsewhere.sign_in(address)
    assert signed_in_as(elsewhere) == address
    tab: Tab = open_context()
    page = tab.open("/login")

    # Log in page → "Forgot your password?" → ask for the link.
    tab_to(page, page.get_by_role("link", name="Forgot your password?", exact=True))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/reset-password$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Reset your password")
    email = page.get_by_label("E-mail", exact=True)
    expect_tab_order(page, [email, page.get_by_role("button", name="Send reset link", exact=True)])
    page.keyboard.type(address)
    page.keyboard.press("Enter")
    sent = page.get_by_role("status").filter(has_text="reset link")
    expect(sent).to_have_text("If an account has this address, a reset link is on its way.")
    expect(email).to_be_focused()
    shots.take(page, "reset-requested")

    # The e-mail, received by the SMTP server.
    [message] = wait_until(lambda: list(mailbox.messages), "the reset e-mail")
    assert message["To"] == address
    assert message["Subject"] == "Reset your Tidings password"
    body = message.get_content()
    [link] = re.findall(re.escape(site.origin) + r"/reset-password\?token=\S+", body)

    # The link: choose the new password.
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose a new password")
    new_password = page.get_by_label("New password", exact=True)
    expect(new_password).to_have_accessible_description(
        "At least 8 characters. Every session of your account will be signed out."
    )
    expect_tab_order(
        page, [new_password, page.get_by_role("button", name="Set password", exact=True)]
    )
    page.keyboard.type(NEW_PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/login\?reset=done$"))
    expect(page.get_by_role("status").filter(has_text="new password")).to_have_text(
        "Your new password is set: log in with it."
    )
    # The focus is on the e-mail field, which a screen reader announces with that news.
    login_email = page.get_by_label("E-mail")
    expect(login_email).to_be_focused()
    expect(login_email).to_have_accessible_description("Your new password is set: log in with it.")
    assert signed_in_as(elsewhere) is None
    shots.take(page, "reset-done")

    # The link works once: a second use is refused in the form's alert.
    page.goto(link)
    expect(new_password).to_be_focused()
    page.keyboard.type("yet another long passphrase")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_have_text(
        "this reset link is not valid: used, expired or mistyped"
    )
    expect(new_password).to_be_focused()
    shots.take(page, "reset-link-used")

    # Log in: the old password is refused, the new one works.
    page.goto("/login")
    password = page.get_by_label("Password", exact=True)
    expect(page.get_by_label("E-mail", exact=True)).to_be_focused()
    page.keyboard.type(address)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_have_text("wrong e-mail or password")
    expect(password).to_be_focused()
    retype(page, NEW_PASSWORD)
    page.keyboard.press("Enter")
    expect_home_signed_in(page, tab, address)
    assert len(mailbox.messages) == 1
    shots.take(page, "reset-logged-in")
    for each in (tab, elsewhere):
        each.assert_no_page_errors()
