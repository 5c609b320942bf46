"""The coloured banners the status and queue windows show above their contents: a problem (red)
or a notice (blue), a coloured bar on the left. One look for both windows."""

PROBLEM = ("#fdecea", "#7a1212", "#b3261e")  # background, text, bar
NOTICE = ("#eef4fb", "#0b3b66", "#1f6fb2")


def banner_style(object_name: str, colours: tuple[str, str, str], padding: str = "8px 10px") -> str:
    """A style sheet for the QLabel whose objectName is ``object_name``."""
    background, text, bar = colours
    return (f"#{object_name} {{ background: {background}; color: {text}; "
            f"border-left: 4px solid {bar}; padding: {padding}; }}")
