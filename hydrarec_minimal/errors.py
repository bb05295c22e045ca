"""Errors a user can fix themselves (missing data, bad files, bad settings).

The command line prints their message as one line and exits with code 1, without a traceback.
"""


class UserError(Exception):
    """An error whose message tells the user what went wrong and what to do about it."""
