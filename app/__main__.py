import multiprocessing

# The frozen program's helper processes (the database writer, multiprocessing's resource tracker)
# are the program started again: send them to their job before the app's modules are imported
# (a no-op when not frozen). Measured: the frozen headless service's processes 177 → 156 MB RSS
# (docs/PERFORMANCE.md, "Frozen program").
multiprocessing.freeze_support()

from app.cli import main  # noqa: E402

if __name__ == "__main__":  # not when the writer process is started ("spawn" imports __main__)
    raise SystemExit(main())
