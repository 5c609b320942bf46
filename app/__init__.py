"""RIMS Utility: durable local invoice intake and forwarding to the tax authority."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rims-utility")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
