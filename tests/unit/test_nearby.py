"""Nearby search reads cells nearest first and stops early, yet finds exactly the nearest places a full read
would: checked against brute force over random places, and by counting what it reads."""

import itertools
import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pygeohash
import pytest
from moto import mock_aws

from happypath import geo, keys, repository
from happypath.errors import InvalidInputError
from happypath.models import PlaceRecord, PlaceWithDistance
from happypath.repository import Repository, place_item

REGION = "us-east-1"
PLACE_NUMBERS = itertools.count()


@dataclass
class Reads:
    """What the search asked DynamoDB for: one entry per query, the number of items each returned."""

    cells: list[str] = field(default_factory=list)
    items: list[int] = field(default_factory=list)

    @property
    def total_items(self) -> int:
        return sum(self.items)


@pytest.fixture
def table() -> Iterator[Any]:
    """A table with the geo index as template.yaml declares it, in moto of its own."""
    with mock_aws():
        dynamodb = boto3.resource("dynamodb", region_name=REGION)
        names = (keys.PK, keys.SK, keys.GEO_PK, keys.GEO_SK)
        yield dynamodb.create_table(
            TableName=f"nearby-{uuid.uuid4().hex[:8]}",  # the session's moto may be running: no reset between tests
            KeySchema=[{"AttributeName": keys.PK, "KeyType": "HASH"}, {"AttributeName": keys.SK, "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in names],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": keys.GEO_INDEX,
                    "KeySchema": [
                        {"AttributeName": keys.GEO_PK, "KeyType": "HASH"},
                        {"AttributeName": keys.GEO_SK, "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )


def counted(table: Any, page_items: int | None = None) -> tuple[Repository, Reads]:
    """A repository on the table whose queries are recorded, in pages of `page_items` if given (DynamoDB's
    own pages hold 1 MB: small pages stand in for a dense city's many)."""
    reads = Reads()
    query = type(table).query  # the table's own, not an earlier recorder's

    def recorded_query(**kwargs: Any) -> Any:
        if page_items is not None:
            kwargs["Limit"] = page_items
        page = query(table, **kwargs)
        cell = kwargs["KeyConditionExpression"].get_expression()["values"][1].get_expression()["values"][1]
        reads.cells.append(cell)
        reads.items.append(len(page["Items"]))
        return page

    table.query = recorded_query
    return Repository(table), reads


def new_place(place_id: str, lat: float, lng: float) -> PlaceRecord:
    return PlaceRecord(
        placeId=place_id,
        name=place_id,
        type="park",
        lat=lat,
        lng=lng,
        createdBy="someone",
        createdAt="2026-01-01T00:00:00.000Z",
    )


def store(table: Any, places: list[PlaceRecord]) -> list[PlaceRecord]:
    with table.batch_writer() as batch:
        for place in places:
            batch.put_item(Item=place_item(place))
    return places


def add_places(table: Any, coordinates: list[tuple[float, float]]) -> list[PlaceRecord]:
    """Places at these coordinates, with ids unique and in no particular order."""
    numbers = zip(PLACE_NUMBERS, coordinates, strict=False)
    return store(table, [new_place(f"place-{random.Random(n).getrandbits(32):08x}-{n}", *at) for n, at in numbers])


def brute_force(places: list[PlaceRecord], lat: float, lng: float, radius_m: float, limit: int) -> list[Any]:
    """Every place's distance, those within the radius, nearest first and equal distances by placeId."""
    found = []
    for place in places:
        distance = geo.distance_m(lat, lng, place.lat, place.lng)
        if distance <= radius_m:
            found.append((round(distance, 1), place.placeId))
    return sorted(found)[:limit]


def shown(results: list[PlaceWithDistance]) -> list[Any]:
    return [(result.distanceM, result.place.placeId) for result in results]


def offset(lat: float, lng: float, north_m: float, east_m: float) -> tuple[float, float]:
    """A point about so many metres north and east, wrapped at the antimeridian and kept off the poles' far side."""
    new_lat = min(90.0, max(-90.0, lat + math.degrees(north_m / geo.EARTH_RADIUS_M)))
    cos_lat = max(math.cos(math.radians(new_lat)), 1e-6)
    new_lng = lng + math.degrees(east_m / (geo.EARTH_RADIUS_M * cos_lat))
    return new_lat, (new_lng + 180.0) % 360.0 - 180.0


def search_area(rng: random.Random, region: str) -> tuple[float, float, float]:
    """A centre and a radius the search accepts there (near a pole only a small circle is searched)."""
    if region == "antimeridian":
        lat, lng = rng.uniform(-60.0, 60.0), rng.choice((1, -1)) * rng.uniform(179.9, 180.0)
    elif region == "pole":
        lat, lng = rng.choice((1, -1)) * rng.uniform(89.0, 89.95), rng.uniform(-180.0, 180.0)
    else:
        lat, lng = rng.uniform(-70.0, 70.0), rng.uniform(-180.0, 180.0)
    radius_m = rng.choice((150.0, 1_000.0, 5_000.0, 20_000.0, 50_000.0))
    while True:
        try:
            geo.covering_cells(lat, lng, radius_m)
            return lat, lng, radius_m
        except InvalidInputError:
            radius_m /= 2


def scattered_around(rng: random.Random, lat: float, lng: float, radius_m: float) -> list[tuple[float, float]]:
    """A dense cluster at the centre, places spread over and past the circle, and some sharing coordinates
    (equal distances, and places under one geohash that pages may split)."""
    cluster = [offset(lat, lng, rng.gauss(0, radius_m / 50), rng.gauss(0, radius_m / 50)) for _ in range(25)]
    spread = [offset(lat, lng, rng.uniform(-1.3, 1.3) * radius_m, rng.uniform(-1.3, 1.3) * radius_m) for _ in range(50)]
    shared = [rng.choice(cluster + spread) for _ in range(15)]
    return cluster + spread + shared


@pytest.mark.parametrize("region", ["anywhere", "antimeridian", "pole"])
@pytest.mark.parametrize("seed", range(8))
def test_the_nearest_places_are_those_brute_force_finds(table, region, seed):
    rng = random.Random(f"{region}-{seed}")
    lat, lng, radius_m = search_area(rng, region)
    places = add_places(table, scattered_around(rng, lat, lng, radius_m))
    for page_items in (None, 4):
        repo, _ = counted(table, page_items)
        for limit in (1, 3, 10, 100):
            expected = brute_force(places, lat, lng, radius_m, limit)
            assert shown(repo.places_near(lat, lng, radius_m, limit)) == expected, (lat, lng, radius_m, limit)


def cell_centre(cell: str) -> tuple[float, float]:
    centre = pygeohash.decode_exactly(cell)
    return centre.latitude, centre.longitude


def test_a_dense_centre_is_read_and_the_cells_around_it_are_not(table):
    # The centre is in the middle of the first sub-cell of its cell: the cluster sorts first in the cell.
    lat, lng, radius_m = 48.85, 2.35, 3_000.0
    own_cell = min(geo.covering_cells(lat, lng, radius_m), key=lambda cell: geo.least_distance_m(lat, lng, [cell]))
    lat, lng = cell_centre(own_cell + "0")
    rng = random.Random(7)
    cluster = [offset(lat, lng, rng.uniform(-30, 30), rng.uniform(-30, 30)) for _ in range(40)]
    spread = [offset(lat, lng, rng.uniform(-1, 1) * radius_m, rng.uniform(-1, 1) * radius_m) for _ in range(600)]
    places = add_places(table, cluster + spread)
    cells = geo.covering_cells(lat, lng, radius_m)
    in_cells = sum(any(geo.encode(p.lat, p.lng).startswith(cell) for cell in cells) for p in places)

    repo, reads = counted(table)
    found = repo.places_near(lat, lng, radius_m, 10)
    assert shown(found) == brute_force(places, lat, lng, radius_m, 10)
    assert reads.cells == [own_cell]  # of several cells
    assert len(cells) > 4
    assert reads.total_items < in_cells / 2

    # In pages, the rest of the centre's cell is left unread too.
    own_cell_items = sum(geo.encode(p.lat, p.lng).startswith(own_cell) for p in places)
    repo, reads = counted(table, page_items=10)
    assert shown(repo.places_near(lat, lng, radius_m, 10)) == brute_force(places, lat, lng, radius_m, 10)
    assert reads.total_items < own_cell_items / 2

    # With more places wanted than the cluster holds, the search goes on to the cells around it.
    repo, reads = counted(table)
    assert shown(repo.places_near(lat, lng, radius_m, 100)) == brute_force(places, lat, lng, radius_m, 100)
    assert len(set(reads.cells)) > 1


def test_a_nearer_place_across_a_cell_border_is_found(table):
    """The centre's own cell is read first, but the nearest place is in the next cell, a few metres away."""
    lat, lng, radius_m = 30.0, -40.0, 2_000.0
    own_cell = pygeohash.encode(lat, lng, len(geo.covering_cells(lat, lng, radius_m)[0]))
    box = pygeohash.get_bounding_box(own_cell)
    lat, lng = (box.min_lat + box.max_lat) / 2, box.max_lon - 0.00005  # ~5 m west of the cell's east edge
    across = add_places(table, [(lat, box.max_lon + 0.00005)])  # ~5 m east of it
    far_in_own_cell = add_places(table, [offset(lat, lng, 500, -500 - i) for i in range(10)])
    repo, _ = counted(table)
    found = repo.places_near(lat, lng, radius_m, 1)
    assert [result.place.placeId for result in found] == [across[0].placeId]
    assert shown(repo.places_near(lat, lng, radius_m, 5)) == brute_force(
        across + far_in_own_cell, lat, lng, radius_m, 5
    )


def test_a_place_that_ties_the_last_one_found_still_ranks_by_its_id(table):
    """On the equator, a place in the next cell is exactly as far as one in the centre's: the next cell's
    least distance, rounded, equals the last distance found, so the cell must still be read."""
    radius_m = 2_000.0
    lng = -0.0093  # ~1034 m west of the border between two cells at longitude 0
    own_cell, next_cell = (pygeohash.encode(0.0, x, len(geo.covering_cells(0.0, lng, radius_m)[0])) for x in (lng, 0.0))
    assert own_cell != next_cell
    store(table, [new_place("a-east", 0.0, 0.0), new_place("b-west", 0.0, 2 * lng)])
    distance = round(geo.distance_m(0.0, lng, 0.0, 0.0), 1)
    assert distance == round(geo.distance_m(0.0, lng, 0.0, 2 * lng), 1)
    next_cell_distance = geo.least_distance_m(0.0, lng, [next_cell])
    assert next_cell_distance > distance  # but not when rounded as distances are shown: the bound is met, not passed
    assert round(next_cell_distance, 1) == distance

    repo, reads = counted(table)
    assert shown(repo.places_near(0.0, lng, radius_m, 1)) == [(distance, "a-east")]
    assert next_cell in reads.cells


def test_places_outside_the_radius_are_never_found_and_cells_outside_it_not_read(table):
    lat, lng, radius_m = -33.86, 151.21, 700.0
    places = add_places(table, [offset(lat, lng, 0, 699), offset(lat, lng, 0, 701), offset(lat, lng, 600, 600)])
    repo, reads = counted(table)
    assert shown(repo.places_near(lat, lng, radius_m, 10)) == brute_force(places, lat, lng, radius_m, 10)
    assert len(shown(repo.places_near(lat, lng, radius_m, 10))) == 1
    corners_beyond = [cell for cell, distance in geo.cells_nearest_first(lat, lng, radius_m) if distance > radius_m]
    assert corners_beyond
    assert not set(reads.cells) & set(corners_beyond)


def test_only_matching_places_are_ranked_however_many_others_are_nearer(table):
    """The namesake check asks for the nearest place of one type and name: 150 others nearer (a food court)
    must not crowd it out of the answer."""
    lat, lng = 48.8566, 2.3522
    crowd = add_places(table, [offset(lat, lng, n % 10, n // 10) for n in range(150)])
    (wanted,) = store(table, [new_place("the-namesake", *offset(lat, lng, 0, 200))])
    repo, _ = counted(table)
    found = repo.places_near(lat, lng, 300, 1, matching=lambda place: place.placeId == wanted.placeId)
    assert shown(found) == [(round(geo.distance_m(lat, lng, wanted.lat, wanted.lng), 1), wanted.placeId)]
    assert shown(repo.places_near(lat, lng, 300, 1)) == brute_force(crowd, lat, lng, 300, 1)
    assert repo.places_near(lat, lng, 300, 1, matching=lambda place: False) == []


def test_a_place_exactly_at_the_radius_is_found(table):
    lat, lng = -33.86, 151.21
    (place,) = add_places(table, [offset(lat, lng, 300, 400)])
    radius_m = geo.distance_m(lat, lng, place.lat, place.lng)
    repo, _ = counted(table)
    assert shown(repo.places_near(lat, lng, radius_m, 10)) == [(round(radius_m, 1), place.placeId)]


def test_a_page_that_ends_inside_a_geohash_leaves_the_rest_of_it_to_read(table):
    """Places sharing a geohash come in placeId order, not by distance: after a page that ends among them,
    the rest of that geohash is as near as the centre, however far its neighbours are."""
    lat, lng = cell_centre(geo.encode(30.0, -40.0))  # the middle of a ~4 x 5 m cell
    farther, nearer = store(table, [new_place("a-farther", *offset(lat, lng, 1.8, 0)), new_place("b-nearer", lat, lng)])
    assert geo.encode(farther.lat, farther.lng) == geo.encode(nearer.lat, nearer.lng)
    repo, reads = counted(table, page_items=1)
    assert [result.place.placeId for result in repo.places_near(lat, lng, 1_000.0, 1)] == ["b-nearer"]
    assert reads.items[:2] == [1, 1]


def test_a_cell_whose_least_distance_is_the_radius_is_still_read():
    """The radius is inclusive (a place at exactly radius_m is found), so a cell that may hold one is read."""
    assert not repository._out_of_reach(700.0, 700.0, [], 10)
    assert repository._out_of_reach(700.001, 700.0, [], 10)
