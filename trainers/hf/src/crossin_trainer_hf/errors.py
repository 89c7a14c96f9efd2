"""One error type whose message is the single line a trainer prints on failure."""


class JobError(Exception):
    """A failure the user can act on. str(e) is one line: what failed and how to fix it.

    exit_code follows the contract: 2 for a bad spec or bad input, 3 for a
    resource problem (no GPU, out of memory), 1 otherwise.
    """

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(" ".join(message.split()))
        self.exit_code = exit_code
