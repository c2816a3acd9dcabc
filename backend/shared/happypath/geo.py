"""Nearby search on DynamoDB: geohash cells cover the search circle, exact distance filters the result."""

import math
from typing import Final

import pygeohash

from happypath.errors import InvalidInputError
from happypath.keys import GEO_PARTITION_PRECISION

EARTH_RADIUS_M: Final = 6_371_008.8
STORED_PRECISION: Final = 9  # ~5 m cells: the sort key under each geo partition
MAX_QUERY_CELLS: Final = 12
MAX_PARTITION_CELLS: Final = 64


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
    """The box around the circle, clamped at the poles; across the antimeridian, one box on each side."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    cos_lat = max(math.cos(math.radians(lat)), 1e-6)
    dlng = min(180.0, math.degrees(radius_m / (EARTH_RADIUS_M * cos_lat)))
    min_lat, max_lat = max(-90.0, lat - dlat), min(90.0, lat + dlat)
    west, east = lng - dlng, lng + dlng
    if east - west >= 360.0:
        return [pygeohash.BoundingBox(min_lat, -180.0, max_lat, 180.0)]
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


def covering_cells(lat: float, lng: float, radius_m: float) -> list[str]:
    """The finest geohash cells (never coarser than a partition) that cover the circle in few queries.

    The precision is chosen from the box's size before any cell is listed; a box that would need more than
    MAX_PARTITION_CELLS partitions (a wide search near a pole) is refused.
    """
    boxes = bounding_boxes(lat, lng, radius_m)

    def estimated(precision: int) -> int:
        return sum(_estimated_cells(box, precision) for box in boxes)

    precision = next(
        (p for p in range(7, GEO_PARTITION_PRECISION, -1) if estimated(p) <= MAX_QUERY_CELLS),
        GEO_PARTITION_PRECISION,
    )
    if estimated(precision) > MAX_PARTITION_CELLS:
        raise InvalidInputError("the search area is too large here: use a smaller radius")
    return sorted({cell for box in boxes for cell in pygeohash.geohashes_in_box(box, precision=precision)})
