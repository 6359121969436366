"""The preview and status pages: what will be posted, drawn from the senders' own request bodies.

`preview_routes(deps)` adds the pages to any aiohttp application (the API server of `newsbot run`);
`serve_preview` runs them on their own for `newsbot preview`.
"""

from bot.preview.web import PreviewDeps, preview_routes

__all__ = ["PreviewDeps", "preview_routes"]
