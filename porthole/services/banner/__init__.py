"""The generic banner grab for open TCP ports no catalogued service explains."""

from porthole.services.banner.probe import BannerProbe

__all__ = ["BannerProbe"]
