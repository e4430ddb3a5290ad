"""One exception type for everything a user can get wrong.

The CLI turns an :class:`InstembError` into one line on stderr and exit code 2; library
users catch it like any other exception.
"""


class InstembError(Exception):
    """Bad input, a missing model or data file, or anything else the user can fix."""
