"""Moving the focus as a keyboard user does, for the browser tests: Tab / Shift+Tab only."""

from __future__ import annotations

from playwright.sync_api import Locator, Page

FOCUSED = """(selector) => {
  const el = document.activeElement;
  return !!el && el !== document.body && el.matches(selector);
}"""
IS_FOCUSED = "(el) => el === document.activeElement"
DESCRIBE_FOCUS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return "(nothing)";
  const text = (el.innerText || el.value || el.getAttribute("aria-label") || "").trim().slice(0, 40);
  return el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (text ? " " + JSON.stringify(text) : "");
}"""


def has_focus(page: Page, target: str | Locator) -> bool:
    """Whether the focused element matches ``target``: a CSS selector or a locator."""
    if isinstance(target, str):
        return bool(page.evaluate(FOCUSED, target))
    return bool(target.evaluate(IS_FOCUSED))


def tab_to(page: Page, target: str | Locator, *, backwards: bool = False, limit: int = 80) -> None:
    """Press Tab (Shift+Tab) until ``target`` (a CSS selector or a locator) has the focus
    (nothing if it has it already); fail naming where the focus went on the way."""
    path = []
    for _ in range(limit):
        if has_focus(page, target):
            return
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
        path.append(page.evaluate(DESCRIBE_FOCUS))
    if has_focus(page, target):
        return
    raise AssertionError(
        f"{target} never got the focus by {'Shift+' if backwards else ''}Tab on {page.url}; "
        "focus went: " + " → ".join(path)
    )


def assert_focused(page: Page, selector: str) -> None:
    assert page.evaluate(FOCUSED, selector), (
        f"expected {selector} focused, not {page.evaluate(DESCRIBE_FOCUS)}"
    )
