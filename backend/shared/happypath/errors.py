"""Domain errors. The API maps each to one HTTP status in a single exception handler."""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from happypath.models import PlaceWithDistance


class HappyPathError(Exception):
    """Base class; `message` is safe to show to the caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def details(self) -> dict[str, Any]:
        """What the error answer says besides the message, for a client to act on (JSON-ready)."""
        return {}


class UnauthorizedError(HappyPathError):
    """The caller is not signed in."""


class NotFoundError(HappyPathError):
    pass


class ForbiddenError(HappyPathError):
    pass


class ConflictError(HappyPathError):
    pass


class NamesakeError(ConflictError):
    """A new place that is already on the map: a place of its type and name is this near."""

    def __init__(self, namesake: "PlaceWithDistance") -> None:
        place = namesake.place
        where = "here" if namesake.distanceM < 1 else f"{namesake.distanceM:.0f} m from here"
        super().__init__(
            f'a {place.type} named "{place.name}" is already on the map {where} (placeId {place.placeId}): add '
            f'photos to it, or send "allowNamesake": true if this is another place'
        )
        self.namesake = namesake

    def details(self) -> dict[str, Any]:
        return {"namesake": self.namesake.model_dump(mode="json")}


class IdempotencyKeyReusedError(HappyPathError):
    """An Idempotency-Key sent again with a different request."""


class InvalidInputError(HappyPathError):
    pass


class SearchTooWideError(InvalidInputError):
    """A nearby search whose circle, this close to a pole, would read too many partitions. `largest_radius_m`
    (at least 1) can be searched from the same centre, so a client can search that instead."""

    def __init__(self, message: str, largest_radius_m: int) -> None:
        super().__init__(message)
        self.largest_radius_m = largest_radius_m

    def details(self) -> dict[str, Any]:
        return {"largestRadius": self.largest_radius_m}


class RetryLaterError(HappyPathError):
    """The same request may succeed after `retry_after_s` seconds."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class QuotaExceededError(RetryLaterError):
    """A person's daily allowance is used up, until it renews."""


class BusyError(RetryLaterError):
    """AWS throttled or failed a call past its retries: nothing was wrong with the request."""

    def __init__(self, retry_after_s: int = 1) -> None:
        super().__init__("the service is busy: try again in a moment", retry_after_s=retry_after_s)


class RequestInProgressError(RetryLaterError):
    """The first request under the same Idempotency-Key has not been answered yet."""
