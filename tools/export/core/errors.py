"""One error type for every failure a user can fix, so the CLIs print a line instead of a traceback."""


class UserError(Exception):
    """A problem with the user's input (files, config, flags). The message says what to do."""


def run_cli(main):
    """Run `main()`; turn a UserError into one line on stderr and exit code 2."""
    import sys

    try:
        return main()
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
