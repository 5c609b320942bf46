from app.cli import main

if __name__ == "__main__":  # not when the writer process is started ("spawn" imports __main__)
    raise SystemExit(main())
