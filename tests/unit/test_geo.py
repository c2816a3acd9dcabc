"""Nearby search geometry: the least distance to a geohash cell bounds every place in it, and the part of a cell
a query has still to read is covered exactly."""

import itertools
import math
import random

import pygeohash
import pytest

from happypath import geo
from happypath.errors import InvalidInputError


def wrapped(lng: float) -> float:
    return (lng + 180.0) % 360.0 - 180.0


def random_point(rng: random.Random, region: str) -> tuple[float, float]:
    """Anywhere, or close to the places where longitude wraps or meridians meet."""
    lat, lng = rng.uniform(-85.0, 85.0), rng.uniform(-180.0, 180.0)
    if region == "antimeridian":
        lng = wrapped(180.0 + rng.uniform(-0.5, 0.5))
    elif region == "pole":
        lat = rng.choice((1, -1)) * rng.uniform(89.0, 90.0)
    return lat, lng


def cell_near(rng: random.Random, lat: float, lng: float) -> str:
    """A cell within a few cells of the point (the cells a search looks at), or the point's own."""
    precision = rng.randint(3, 7)
    error = pygeohash.decode_exactly(pygeohash.encode(lat, lng, precision))
    lat_step, lng_step = 2 * error.latitude_error, 2 * error.longitude_error
    near_lat = min(90.0, max(-90.0, lat + rng.randint(-2, 2) * lat_step))
    return str(pygeohash.encode(near_lat, wrapped(lng + rng.randint(-2, 2) * lng_step), precision))


def points_in(box: pygeohash.BoundingBox, rng: random.Random, count: int) -> list[tuple[float, float]]:
    """The box's corners, points along its edges and inside it."""
    corners = list(itertools.product((box.min_lat, box.max_lat), (box.min_lon, box.max_lon)))
    along_edges = [
        (rng.uniform(box.min_lat, box.max_lat), rng.choice((box.min_lon, box.max_lon))) for _ in range(count)
    ] + [(rng.choice((box.min_lat, box.max_lat)), rng.uniform(box.min_lon, box.max_lon)) for _ in range(count)]
    inside = [(rng.uniform(box.min_lat, box.max_lat), rng.uniform(box.min_lon, box.max_lon)) for _ in range(count)]
    return corners + along_edges + inside


def edge_minimum_m(lat: float, lng: float, box: pygeohash.BoundingBox, steps: int = 2000) -> float:
    """The least distance to the box's edges, by walking them finely: the brute-force answer."""
    fractions = [i / steps for i in range(steps + 1)]
    edges = [
        (box.min_lat + (box.max_lat - box.min_lat) * f, lon) for f in fractions for lon in (box.min_lon, box.max_lon)
    ]
    edges += [
        (lat_, box.min_lon + (box.max_lon - box.min_lon) * f) for f in fractions for lat_ in (box.min_lat, box.max_lat)
    ]
    return min(geo.distance_m(lat, lng, edge_lat, edge_lng) for edge_lat, edge_lng in edges)


@pytest.mark.parametrize("region", ["anywhere", "antimeridian", "pole"])
@pytest.mark.parametrize("seed", range(20))
def test_no_point_of_a_cell_is_nearer_than_its_least_distance(region, seed):
    rng = random.Random(f"{region}-{seed}")
    for _ in range(20):
        lat, lng = random_point(rng, region)
        cell = cell_near(rng, lat, lng)
        least = geo.least_distance_m(lat, lng, [cell])
        for point in points_in(pygeohash.get_bounding_box(cell), rng, 20):
            assert least <= geo.distance_m(lat, lng, *point), (lat, lng, cell, point)


@pytest.mark.parametrize("region", ["anywhere", "antimeridian", "pole"])
@pytest.mark.parametrize("seed", range(5))
def test_the_least_distance_to_a_box_is_its_nearest_points(region, seed):
    """Not just a bound: as near as walking the edges finds (0 when the point is in the box)."""
    rng = random.Random(f"{region}-{seed}")
    for _ in range(10):
        lat, lng = random_point(rng, region)
        box = pygeohash.get_bounding_box(cell_near(rng, lat, lng))
        distance = geo.box_distance_m(lat, lng, box)
        if box.min_lat <= lat <= box.max_lat and box.min_lon <= lng <= box.max_lon:
            assert distance == 0
        else:
            walked = edge_minimum_m(lat, lng, box)
            # The walk's steps are at most ~1/2000 of a cell's side, so it overshoots by little.
            assert distance <= walked <= distance + 1e-3 * (box.max_lat - box.min_lat) * 111_200 + 1e-6


def test_the_least_distance_across_the_antimeridian_and_over_a_pole():
    east_of_it = pygeohash.BoundingBox(-17.0, -180.0, -16.0, -179.0)
    assert geo.box_distance_m(-16.5, 179.99, east_of_it) == pytest.approx(geo.distance_m(-16.5, 179.99, -16.5, 180.0))
    assert geo.box_distance_m(-16.5, 180.0, east_of_it) == 0  # 180 and -180 are one meridian
    # The box holds the pole: from the other side of the world, the way is over the pole.
    polar_cap = pygeohash.BoundingBox(89.0, 0.0, 90.0, 10.0)
    assert geo.box_distance_m(88.0, -170.0, polar_cap) == pytest.approx(geo.distance_m(88.0, -170.0, 90.0, 0.0))
    assert geo.box_distance_m(90.0, -170.0, polar_cap) == pytest.approx(0, abs=1e-6)  # every meridian meets there
    # Due north of a box, the distance is along the meridian.
    box = pygeohash.BoundingBox(10.0, 20.0, 11.0, 21.0)
    assert geo.box_distance_m(12.0, 20.5, box) == pytest.approx(geo.EARTH_RADIUS_M * math.radians(1.0))


def test_a_circle_round_a_pole_is_one_box_of_every_longitude_clamped_at_the_pole():
    """Its longitude span reaches 360 degrees exactly (clamped), which is one box, not two halves."""
    dlat = math.degrees(5_000 / geo.EARTH_RADIUS_M)
    assert geo.bounding_boxes(89.99, 10.0, 5_000) == [pygeohash.BoundingBox(89.99 - dlat, -180.0, 90.0, 180.0)]
    assert geo.bounding_boxes(-89.99, 10.0, 5_000) == [pygeohash.BoundingBox(-90.0, -180.0, -89.99 + dlat, 180.0)]


def test_a_circle_that_only_touches_the_antimeridian_is_one_box():
    """Touching it is not crossing it: no empty box on the far side (whose cells would be listed too)."""
    dlng = math.degrees(1_000 / geo.EARTH_RADIUS_M)  # on the equator, the circle's half-width in degrees
    west_of_it, east_of_it = 180.0 - dlng, -180.0 + dlng
    assert (west_of_it + dlng, east_of_it - dlng) == (180.0, -180.0)  # exactly on it, not a float's width past
    boxes = geo.bounding_boxes(0.0, west_of_it, 1_000)
    assert [(box.min_lon, box.max_lon) for box in boxes] == [(pytest.approx(180.0 - 2 * dlng), 180.0)]
    boxes = geo.bounding_boxes(0.0, east_of_it, 1_000)
    assert [(box.min_lon, box.max_lon) for box in boxes] == [(-180.0, pytest.approx(-180.0 + 2 * dlng))]


def test_a_circle_across_the_antimeridian_has_a_box_on_each_side():
    dlng = math.degrees(5_000 / geo.EARTH_RADIUS_M)  # ~0.045 degrees on the equator
    lngs = [(box.min_lon, box.max_lon) for box in geo.bounding_boxes(0.0, 179.99, 5_000)]
    assert lngs == [(pytest.approx(179.99 - dlng), 180.0), (-180.0, pytest.approx(179.99 + dlng - 360.0))]
    lngs = [(box.min_lon, box.max_lon) for box in geo.bounding_boxes(0.0, -179.99, 5_000)]
    assert lngs == [(-180.0, pytest.approx(-179.99 + dlng)), (pytest.approx(-179.99 - dlng + 360.0), 180.0)]


@pytest.mark.parametrize("precision", range(3, 8))
@pytest.mark.parametrize("seed", range(5))
def test_the_estimated_cells_of_a_box_are_those_listed_or_a_row_and_column_more(precision, seed):
    """The estimate picks the precision and refuses wide searches: it must never be short of the cells that
    will be queried, nor overshoot by more than the partial row and column a box's edges may add."""
    rng = random.Random(f"{precision}-{seed}")
    cell_lat, cell_lng = (2 * error for error in pygeohash.decode_exactly("s" * precision)[2:])
    boxes = []
    for _ in range(10):
        # Wide and short, tall and narrow, or squarish: a few cells of this precision across.
        height, width = cell_lat * rng.uniform(0.1, 6.0), cell_lng * rng.uniform(0.1, 6.0)
        min_lat, min_lon = rng.uniform(-60.0, 60.0), rng.uniform(-170.0, 170.0)
        boxes.append(pygeohash.BoundingBox(min_lat, min_lon, min_lat + height, min_lon + width))
    # The worst case: a box just over a whole number of cells wide and high, overlapping a cell on each side.
    start = pygeohash.get_bounding_box(pygeohash.encode(rng.uniform(-60.0, 60.0), rng.uniform(-170, 170), precision))
    hair_lat, hair_lng = cell_lat * 1e-6, cell_lng * 1e-6
    across, high = rng.randint(1, 4), rng.randint(1, 4)
    min_lat, min_lon = start.max_lat - hair_lat, start.max_lon - hair_lng
    boxes.append(
        pygeohash.BoundingBox(
            min_lat, min_lon, min_lat + high * cell_lat + 2 * hair_lat, min_lon + across * cell_lng + 2 * hair_lng
        )
    )
    for box in boxes:
        listed = pygeohash.geohashes_in_box(box, precision=precision)
        columns = len({pygeohash.get_bounding_box(cell).min_lon for cell in listed})
        rows = len({pygeohash.get_bounding_box(cell).min_lat for cell in listed})
        assert len(listed) <= geo._estimated_cells(box, precision) <= (columns + 1) * (rows + 1), (box, precision)


def test_a_point_on_a_boxs_edge_is_in_it():
    """Exactly 0: not the float error of a foot of the perpendicular worked out from the edge's latitude."""
    # At 1.9 degrees that foot comes out a float's width inside the box, and the distance to it a nanometre.
    assert geo.box_distance_m(1.9, 20.5, pygeohash.BoundingBox(1.0, 20.0, 1.9, 21.0)) == 0  # on the north edge
    assert geo.box_distance_m(-1.9, 20.5, pygeohash.BoundingBox(-1.9, 20.0, -1.0, 21.0)) == 0  # on the south edge


@pytest.mark.parametrize(("radius_m", "precision"), [(10, 7), (150, 7), (500, 6), (1_000, 5), (5_000, 4)])
def test_the_cells_are_the_finest_a_few_queries_cover_the_circle_with(radius_m, precision):
    """The finest precision whose cells number at most MAX_QUERY_CELLS (150 m in Paris takes exactly 12), never
    finer than 7 (~150 m cells) nor coarser than a partition (4)."""
    cells = geo.covering_cells(48.8566, 2.3522, radius_m)
    assert {len(cell) for cell in cells} == {precision}
    assert precision == geo.GEO_PARTITION_PRECISION or len(cells) <= geo.MAX_QUERY_CELLS


def test_a_search_is_refused_only_past_the_most_partitions_it_may_read_naming_the_largest_that_works():
    # Far north the partitions narrow: 29 km there is estimated at most MAX_PARTITION_CELLS, 29.5 km at more.
    assert len(geo.covering_cells(84.0, 10.0, 29_000)) <= geo.MAX_PARTITION_CELLS
    largest = geo.largest_searchable_radius_m(84.0, 10.0, 29_500)
    assert 29_000 <= largest < 29_500
    with pytest.raises(
        InvalidInputError,
        match=rf"^the search area is too large this close to a pole: use a radius of at most {largest} m$",
    ):
        geo.covering_cells(84.0, 10.0, 29_500)
    for lat in (90.0, -90.0, 89.99995):
        with pytest.raises(InvalidInputError, match=r"^no search can be centred this close to a pole$"):
            geo.covering_cells(lat, 10.0, 1_000)


def test_where_the_radius_asked_for_works_it_is_the_largest_in_whole_metres_never_more():
    """The bisection starts past the radius asked for: it must not answer with a radius nobody asked about, nor
    with a fraction of a metre (the refusal names it as a whole number)."""
    assert geo.largest_searchable_radius_m(48.8566, 2.3522, 5_000) == 5_000
    assert geo.largest_searchable_radius_m(48.8566, 2.3522, 5_000.9) == 5_000


@pytest.mark.parametrize("lat", [89.9999, -89.9999])
def test_where_only_a_metre_can_be_searched_a_wider_search_is_told_to_use_it(lat):
    """11 m from a pole a 1 m circle is still narrow enough (places there can be added, so they can be found):
    a wider search is told its largest radius, not that no search can be centred there."""
    assert geo.largest_searchable_radius_m(lat, 10.0, 50) == 1
    assert geo.covering_cells(lat, 10.0, 1)
    with pytest.raises(
        InvalidInputError, match=r"^the search area is too large this close to a pole: use a radius of at most 1 m$"
    ):
        geo.covering_cells(lat, 10.0, 2)


@pytest.mark.parametrize("seed", range(20))
def test_the_largest_radius_named_is_searched_and_a_metre_more_is_not(seed):
    rng = random.Random(seed)
    lat, lng = rng.choice((1, -1)) * rng.uniform(70.0, 89.9999), rng.uniform(-180.0, 180.0)
    largest = geo.largest_searchable_radius_m(lat, lng, 50_000)
    assert isinstance(largest, int)  # named in whole metres
    if largest < 50_000:
        with pytest.raises(InvalidInputError):
            geo.covering_cells(lat, lng, largest + 1)
    if largest >= 1:
        partitions = {cell[: geo.GEO_PARTITION_PRECISION] for cell in geo.covering_cells(lat, lng, largest)}
        assert len(partitions) <= geo.MAX_PARTITION_CELLS
    assert geo.can_be_found(lat, lng) == (largest >= 1)


def destination(lat: float, lng: float, bearing_deg: float, distance_m: float) -> tuple[float, float]:
    """The point so far along a great circle setting out on this bearing."""
    phi, angle, bearing = math.radians(lat), distance_m / geo.EARTH_RADIUS_M, math.radians(bearing_deg)
    end = math.asin(math.sin(phi) * math.cos(angle) + math.cos(phi) * math.sin(angle) * math.cos(bearing))
    turn = math.atan2(
        math.sin(bearing) * math.sin(angle) * math.cos(phi), math.cos(angle) - math.sin(phi) * math.sin(end)
    )
    return math.degrees(end), wrapped(lng + math.degrees(turn))


@pytest.mark.parametrize("region", ["anywhere", "antimeridian", "pole"])
@pytest.mark.parametrize("seed", range(10))
def test_every_point_of_the_circle_is_in_its_boxes(region, seed):
    """Its widest longitude lies poleward of the centre: a box as wide as the centre's parallel would miss it.
    (The rim is taken a millionth inside: near a pole asin loses a few digits.)"""
    rng = random.Random(f"{region}-{seed}")
    lat, lng = random_point(rng, region)
    radius_m = rng.choice((10.0, 1_000.0, 5_000.0, 50_000.0))
    boxes = geo.bounding_boxes(lat, lng, radius_m)
    for bearing in [i / 4 for i in range(4 * 360)]:
        rim_lat, rim_lng = destination(lat, lng, bearing, radius_m * (1 - 1e-6))
        assert any(box.min_lat <= rim_lat <= box.max_lat and box.min_lon <= rim_lng <= box.max_lon for box in boxes), (
            lat,
            lng,
            radius_m,
            bearing,
        )


def test_the_least_distance_of_no_cells_is_infinite_and_never_negative():
    assert geo.least_distance_m(0.0, 0.0, []) == math.inf
    assert geo.least_distance_m(0.0, 0.0, [geo.encode(0.0, 0.0)]) == 0


@pytest.mark.parametrize(
    ("lat", "lng", "radius_m"), [(48.8566, 2.3522, 5000), (-16.8, 179.999, 2000), (89.9, 30.0, 100)]
)
def test_cells_come_nearest_first_and_are_the_covering_cells(lat, lng, radius_m):
    ordered = geo.cells_nearest_first(lat, lng, radius_m)
    assert sorted(cell for cell, _ in ordered) == geo.covering_cells(lat, lng, radius_m)
    distances = [distance for _, distance in ordered]
    assert distances == sorted(distances)
    assert ordered[0] == (str(pygeohash.encode(lat, lng, len(ordered[0][0]))), 0.0)  # the centre's own cell


@pytest.mark.parametrize("seed", range(30))
def test_the_unread_cells_are_exactly_the_geohashes_from_the_last_one_read(seed):
    rng = random.Random(seed)
    cell = "".join(rng.choice(geo.GEOHASH_ALPHABET) for _ in range(rng.randint(6, 7)))
    below = [cell + "".join(tail) for tail in itertools.product(geo.GEOHASH_ALPHABET, repeat=9 - len(cell))]
    last_read = rng.choice(below)
    unread = geo.unread_cells(cell, last_read)
    for geohash in below:
        holders = [c for c in unread if geohash.startswith(c)]
        assert len(holders) == (1 if geohash >= last_read else 0), geohash  # covered once, and only if unread


def test_after_the_last_geohash_of_a_cell_only_that_geohash_is_unread():
    cell = "u09tv"
    assert geo.unread_cells(cell, cell + "zzzz") == [cell + "zzzz"]
    assert len(geo.unread_cells(cell, cell + "0000")) == 1 + 4 * 31
    with pytest.raises(ValueError, match="not inside"):
        geo.unread_cells(cell, "u09tw0000")
