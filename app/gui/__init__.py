"""The tray app and its windows (PySide6). Talks to the core only through gui/runtime.py:
coroutines of service/facade.py run on the core's loop, results and status come back as Qt
signals of one Bridge. Never imports app.store or app.server (DESIGN.md, "Layers")."""
