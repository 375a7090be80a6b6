"""The static dashboard: a board of services by stages, a page per service, the timeline and
the delivery metrics, as files that work opened from disk. Pure: data in, pages out."""

from __future__ import annotations

from pipeline_kit.dashboard.board import board
from pipeline_kit.dashboard.data import Health, Image, SiteData
from pipeline_kit.dashboard.delivery import delivery
from pipeline_kit.dashboard.layout import ASSETS
from pipeline_kit.dashboard.service import service_page
from pipeline_kit.dashboard.timeline import timeline

__all__ = ["Health", "Image", "SiteData", "site"]


def site(data: SiteData) -> dict[str, str]:
    """Every file of the site by its path relative to the output folder."""
    files = dict(ASSETS)
    files["index.html"] = board(data)
    for name, service in sorted(data.state.services.items()):
        files[f"services/{name}.html"] = service_page(data, service)
    files.update(timeline(data.history, data.policy.stages))
    files["metrics.html"] = delivery(data)
    return files
