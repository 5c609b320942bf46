import sys

from app import relaunch

# Helper processes (the database writer; practice mode's certificate maker) are this program
# started again with a hidden first argument (app/relaunch.py): send them to their job before the
# app's modules are imported, so that each holds only what its job needs.
if sys.argv[1:2] and sys.argv[1] in relaunch.COMMANDS:
    raise SystemExit(relaunch.run(sys.argv[1], sys.argv[2:]))

if sys.platform == "win32":
    # On Windows the writer is started by multiprocessing ("spawn", store/writer.py): the frozen
    # program's helper process must go to its job before the app is imported there too (a no-op
    # when not frozen).
    import multiprocessing

    multiprocessing.freeze_support()

from app.cli import main

if __name__ == "__main__":  # not when Windows' writer process starts ("spawn" imports __main__)
    raise SystemExit(main())
