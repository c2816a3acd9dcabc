"""Domain errors. The API maps each to one HTTP status in a single exception handler."""


class HappyPathError(Exception):
    """Base class; `message` is safe to show to the caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFoundError(HappyPathError):
    pass


class ForbiddenError(HappyPathError):
    pass


class ConflictError(HappyPathError):
    pass


class InvalidInputError(HappyPathError):
    pass
