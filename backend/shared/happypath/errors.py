"""Domain errors. The API maps each to one HTTP status in a single exception handler."""


class HappyPathError(Exception):
    """Base class; `message` is safe to show to the caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnauthorizedError(HappyPathError):
    """The caller is not signed in."""


class NotFoundError(HappyPathError):
    pass


class ForbiddenError(HappyPathError):
    pass


class ConflictError(HappyPathError):
    pass


class InvalidInputError(HappyPathError):
    pass


class QuotaExceededError(HappyPathError):
    """A person's daily allowance is used up; `retry_after_s`: until it renews."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
