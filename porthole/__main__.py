"""``python -m porthole`` is the same as the ``porthole`` command."""

from porthole.cli import main

if __name__ == "__main__":
    main()
