"""RIMS Utility: durable local invoice intake and forwarding to the tax authority."""

__version__: str  # read from the installed package's metadata when first asked for (below)


def __getattr__(name: str) -> str:
    """``__version__`` on first use: importlib.metadata is not cheap, and the database writer
    process (which imports ``app``) never needs it."""
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        value = version("rims-utility")
    except PackageNotFoundError:  # running from a source tree that was never installed
        value = "0.0.0+source"
    globals()["__version__"] = value
    return value
