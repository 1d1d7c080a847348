"""A program interrupted by Ctrl-C (SIGINT) two calls deep."""

import signal


def wait_for_input() -> None:
    signal.raise_signal(signal.SIGINT)


def main() -> None:
    wait_for_input()


main()
