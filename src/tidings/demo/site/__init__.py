"""A small offline news site for demos and tests: ``DemoSite`` serves two fictional outlets.

    site = DemoSite(clock=FrozenClock(...), publish_every=5.0)
    base_url = site.start()          # http://127.0.0.1:<port>
    site.feed_urls()                 # one feed per outlet, to add as sources
    site.stop()

Run it alone with ``python -m tidings.demo.site --port 8000``.
"""

from tidings.demo.site.server import DemoSite

__all__ = ["DemoSite"]
