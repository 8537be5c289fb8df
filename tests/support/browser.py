"""Playwright pages that act only once the app has wired its controls."""

from playwright.sync_api import Page


def wait_until_wired(page: Page) -> Page:
    """page.goto and page.reload return once the page's controls are wired: the app first asks
    who is signed in, and files chosen before its handlers exist would be lost."""
    goto, reload = page.goto, page.reload

    def ready(response):
        page.wait_for_selector("html[data-ready]", state="attached")
        return response

    page.goto = lambda *a, **kw: ready(goto(*a, **kw))  # type: ignore[method-assign]
    page.reload = lambda *a, **kw: ready(reload(*a, **kw))  # type: ignore[method-assign]
    return page
