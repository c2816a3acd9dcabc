"""Nearby search on DynamoDB: geohash cells cover the search circle, exact distance filters the result.

The search reads cells nearest first and stops once no unread part of a cell can hold a nearer place: the
least distance from the centre to a cell (or to what is left of one) bounds every place in it.
"""

import math
from collections.abc import Iterable
from typing import Final

import pygeohash

from happypath.errors import InvalidInputError, SearchTooWideError
from happypath.keys import GEO_PARTITION_PRECISION

EARTH_RADIUS_M: Final = 6_371_008.8
STORED_PRECISION: Final = 9  # ~5 m cells: the sort key under each geo partition
MAX_QUERY_CELLS: Final = 12
MAX_PARTITION_CELLS: Final = 64
GEOHASH_ALPHABET: Final = "0123456789bcdefghjkmnpqrstuvwxyz"  # in ASCII order: geohash order is sort-key order
# Subtracted from every least distance so that float error never makes it exceed a real place's distance_m
# (at the distances a search covers, under ~100 km, that error is far below a millimetre).
LEAST_DISTANCE_SLACK_M: Final = 0.001


def encode(lat: float, lng: float) -> str:
    return str(pygeohash.encode(lat, lng, precision=STORED_PRECISION))


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance (haversine)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lng2 - lng1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def bounding_boxes(lat: float, lng: float, radius_m: float) -> list[pygeohash.BoundingBox]:
    """The box around the circle, clamped at the poles; across the antimeridian, one box on each side.

    A circle's widest longitude lies poleward of its centre: its half-width is asin(sin d / cos lat), wider
    than d / cos lat, which would leave the circle's far east and west edges outside the box. A circle that
    holds a pole spans every longitude.
    """
    angle = radius_m / EARTH_RADIUS_M
    dlat = math.degrees(angle)
    min_lat, max_lat = max(-90.0, lat - dlat), min(90.0, lat + dlat)
    if max_lat >= 90.0 or min_lat <= -90.0:
        return [pygeohash.BoundingBox(min_lat, -180.0, max_lat, 180.0)]
    dlng = math.degrees(math.asin(min(1.0, math.sin(angle) / math.cos(math.radians(lat)))))
    west, east = lng - dlng, lng + dlng
    boxes = [pygeohash.BoundingBox(min_lat, max(-180.0, west), max_lat, min(180.0, east))]
    if west < -180.0:
        boxes.append(pygeohash.BoundingBox(min_lat, west + 360.0, max_lat, 180.0))
    if east > 180.0:
        boxes.append(pygeohash.BoundingBox(min_lat, -180.0, max_lat, east - 360.0))
    return boxes


def _estimated_cells(box: pygeohash.BoundingBox, precision: int) -> int:
    """How many geohash cells of this precision cover the box, from the cell size alone (no enumeration)."""
    lng_bits = (5 * precision + 1) // 2
    cell_lng, cell_lat = 360 / 2**lng_bits, 180 / 2 ** (5 * precision - lng_bits)
    columns = math.ceil((box.max_lon - box.min_lon) / cell_lng) + 1
    rows = math.ceil((box.max_lat - box.min_lat) / cell_lat) + 1
    return columns * rows


def _estimated_cells_of(boxes: list[pygeohash.BoundingBox], precision: int) -> int:
    return sum(_estimated_cells(box, precision) for box in boxes)


def _partitions_needed(lat: float, lng: float, radius_m: float) -> int:
    return _estimated_cells_of(bounding_boxes(lat, lng, radius_m), GEO_PARTITION_PRECISION)


def largest_searchable_radius_m(lat: float, lng: float, radius_m: float) -> int:
    """The largest whole number of metres, up to `radius_m`, whose circle here needs at most
    MAX_PARTITION_CELLS partitions (0 on or right by a pole): a box grows with its circle, so bisect."""
    works, fails = 0, math.floor(radius_m) + 1
    while fails - works > 1:
        middle = (works + fails) // 2
        if _partitions_needed(lat, lng, middle) <= MAX_PARTITION_CELLS:
            works = middle
        else:
            fails = middle
    return works


def can_be_found(lat: float, lng: float) -> bool:
    """Whether some search finds a place here: one of a metre can be centred on it (not within ~10 m of a
    pole, where no circle is narrow enough to read few partitions)."""
    return _partitions_needed(lat, lng, 1) <= MAX_PARTITION_CELLS


def covering_cells(lat: float, lng: float, radius_m: float) -> list[str]:
    """The finest geohash cells (never coarser than a partition) that cover the circle in few queries.

    The precision is chosen from the box's size before any cell is listed; a box that would need more than
    MAX_PARTITION_CELLS partitions (a wide search near a pole, where they narrow) is refused, naming the
    largest radius that can be searched there.
    """
    boxes = bounding_boxes(lat, lng, radius_m)
    precision = next(
        (p for p in range(7, GEO_PARTITION_PRECISION, -1) if _estimated_cells_of(boxes, p) <= MAX_QUERY_CELLS),
        GEO_PARTITION_PRECISION,
    )
    if _estimated_cells_of(boxes, precision) > MAX_PARTITION_CELLS:
        largest = largest_searchable_radius_m(lat, lng, radius_m)
        if largest < 1:
            # Every longitude meets at a pole: a circle round one would read every partition along its rim.
            raise InvalidInputError("no search can be centred this close to a pole")
        raise SearchTooWideError(
            f"the search area is too large this close to a pole: use a radius of at most {largest} m", largest
        )
    return sorted({cell for box in boxes for cell in pygeohash.geohashes_in_box(box, precision=precision)})


def _longitude_gap(lng1: float, lng2: float) -> float:
    """Degrees of longitude between two meridians the short way round, 0 to 180."""
    gap = abs(lng1 - lng2) % 360.0
    return min(gap, 360.0 - gap)


def box_distance_m(lat: float, lng: float, box: pygeohash.BoundingBox) -> float:
    """Shortest great-circle distance from the point to any point of the box; 0 inside it.

    At a given latitude the distance grows with the longitude gap, so the nearest point of the box lies on
    the point's own meridian (when the box spans it) or on the box's nearer edge meridian.
    """
    if box.min_lon <= lng <= box.max_lon:
        meridian = lng
    else:
        meridian = min(box.min_lon, box.max_lon, key=lambda edge: _longitude_gap(lng, edge))
    gap = math.radians(_longitude_gap(lng, meridian))
    if gap == 0 and box.min_lat <= lat <= box.max_lat:
        return 0.0
    if math.cos(gap) > 0:
        # Along the meridian the distance falls to the foot of the perpendicular from the point, then rises:
        # the nearest latitude of the edge is the foot's, kept within the box.
        foot = math.degrees(math.atan2(math.sin(math.radians(lat)), math.cos(math.radians(lat)) * math.cos(gap)))
        latitudes = [min(max(foot, box.min_lat), box.max_lat)]
    else:  # the foot lies on the far half of that great circle: the distance only rises away from one end
        latitudes = [box.min_lat, box.max_lat]
    return min(distance_m(lat, lng, edge_lat, meridian) for edge_lat in latitudes)


def least_distance_m(lat: float, lng: float, cells: Iterable[str]) -> float:
    """A distance no place in these cells is nearer than (inf for no cells)."""
    nearest = min((box_distance_m(lat, lng, pygeohash.get_bounding_box(cell)) for cell in cells), default=math.inf)
    return max(0.0, nearest - LEAST_DISTANCE_SLACK_M)


def cells_nearest_first(lat: float, lng: float, radius_m: float) -> list[tuple[str, float]]:
    """covering_cells with their least distance from the centre, nearest first (ties by cell)."""
    cells = [(cell, least_distance_m(lat, lng, [cell])) for cell in covering_cells(lat, lng, radius_m)]
    return sorted(cells, key=lambda pair: (pair[1], pair[0]))


def unread_cells(cell: str, last_read: str) -> list[str]:
    """Cells covering the part of `cell` that a query in geohash order has still to read after reaching the
    geohash `last_read` (a longer geohash inside `cell`): `last_read` itself (other places may share it),
    then at each level the sibling cells that sort after the one holding it."""
    if not last_read.startswith(cell):
        raise ValueError(f"{last_read} is not inside {cell}")
    unread = [last_read]
    for length in range(len(last_read), len(cell), -1):
        parent, digit = last_read[: length - 1], last_read[length - 1]
        unread += [parent + later for later in GEOHASH_ALPHABET[GEOHASH_ALPHABET.index(digit) + 1 :]]
    return unread
