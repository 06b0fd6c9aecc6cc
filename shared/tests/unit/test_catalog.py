"""The catalog resource without a database: its use cases over an in-memory repository, the schemas
made for its API and the routes mounted for it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tierline_shared import ranking
from tierline_shared.catalog.resource import API, CONFIG, Catalog, Listed, Resource
from tierline_shared.catalog.routes import CatalogOps, PerRoute, Work, mount
from tierline_shared.catalog.schemas import catalog_schemas, fields_of, kept, placed, to_domain
from tierline_shared.errors import AlreadyExists, InvalidInput, NotFound

from ..fakes_catalog import LaneRow, MemoryRepository

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
T1 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


class Lane(BaseModel):
    """A domain entry: a name, a tier it is ranked in and the services it takes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    tier: str
    services: list[str] = Field(default_factory=list)

    @field_validator("services")
    @classmethod
    def _distinct(cls, services: list[str]) -> list[str]:
        if len(services) != len(set(services)):
            raise ValueError("a service appears twice")
        return services

    @property
    def filters(self) -> dict[str, frozenset[str]]:
        return {"services": frozenset(self.services)}


def _lane_of(row: LaneRow) -> Lane:
    return Lane(name=row.name, tier=row.tier, **row.spec)


LANES = Resource[LaneRow, Lane](
    row=LaneRow,
    what="lane",
    article="a",
    item_of=_lane_of,
    columns=lambda lane: {"tier": lane.tier, "spec": {"services": lane.services}},
    ranked=True,
    scope_by=("tier",),
    kind_in=lambda scope: f"{scope['tier']} lane",
)


def _catalog(resource: Resource[LaneRow, Lane] = LANES) -> Catalog[LaneRow, Lane]:
    return Catalog(resource, MemoryRepository())  # type: ignore[arg-type]


def _names(catalog: Catalog[LaneRow, Lane], tier: str) -> list[tuple[str, int]]:
    rows = asyncio.run(catalog.repo.rows({"tier": tier}))
    return [(r.name, r.rank) for r in rows]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_an_entry_made_through_the_api_goes_last_unless_placed() -> None:
    lanes = _catalog()
    run(lanes.add(Lane(name="a", tier="L1"), T0))
    run(lanes.add(Lane(name="b", tier="L1"), T0))
    run(lanes.add(Lane(name="c", tier="L1"), T0, ranking.Placement(before="a")))
    run(lanes.add(Lane(name="z", tier="L2"), T0))
    assert _names(lanes, "L1") == [("c", 1), ("a", 2), ("b", 3)]
    assert _names(lanes, "L2") == [("z", 1)]
    row = run(lanes.found("c"))
    assert (row.managed_by, row.created_at, row.updated_at) == (API, T0, T0)


def test_a_taken_name_is_a_conflict_naming_the_entry() -> None:
    lanes = _catalog()
    run(lanes.add(Lane(name="a", tier="L1"), T0))
    with pytest.raises(AlreadyExists, match="A lane named 'a' exists"):
        run(lanes.absent("a"))
    with pytest.raises(AlreadyExists):
        run(lanes.add_new(Lane(name="a", tier="L1"), T0))


def test_a_rank_out_of_range_names_the_list() -> None:
    lanes = _catalog()
    run(lanes.add(Lane(name="a", tier="L1"), T0))
    with pytest.raises(InvalidInput, match="rank"):
        run(lanes.add(Lane(name="b", tier="L1"), T0, ranking.Placement(rank=3)))
    with pytest.raises(InvalidInput, match="no L1 lane named 'x'"):
        run(lanes.add(Lane(name="b", tier="L1"), T0, ranking.Placement(after="x")))


def test_replacing_keeps_the_rank_or_moves_as_told_and_across_lists_closes_the_gap() -> None:
    lanes = _catalog()
    for name in ("a", "b", "c"):
        run(lanes.add(Lane(name=name, tier="L1"), T0))
    row = run(lanes.found("a"))
    assert run(lanes.replace(row, Lane(name="a", tier="L1", services=["mail"]), T1)) is False
    assert _names(lanes, "L1") == [("a", 1), ("b", 2), ("c", 3)]
    assert (row.spec, row.updated_at) == ({"services": ["mail"]}, T1)
    run(lanes.replace(row, Lane(name="a", tier="L1"), T1, ranking.Placement(rank=3)))
    assert _names(lanes, "L1") == [("b", 1), ("c", 2), ("a", 3)]
    assert run(lanes.replace(run(lanes.found("b")), Lane(name="b", tier="L2"), T1)) is True
    assert _names(lanes, "L1") == [("c", 1), ("a", 2)]
    assert _names(lanes, "L2") == [("b", 1)]


def test_removing_closes_the_gap() -> None:
    lanes = _catalog()
    for name in ("a", "b", "c"):
        run(lanes.add(Lane(name=name, tier="L1"), T0))
    run(lanes.remove(run(lanes.found("b"))))
    assert _names(lanes, "L1") == [("a", 1), ("c", 2)]
    with pytest.raises(NotFound):
        run(lanes.get("b"))


def test_listing_says_which_entries_are_never_reached() -> None:
    lanes = _catalog()
    run(lanes.add(Lane(name="any", tier="L1"), T0))
    run(lanes.add(Lane(name="mail", tier="L1", services=["mail"]), T0))
    run(lanes.add(Lane(name="other", tier="L2", services=["mail"]), T0))
    listed = {e.item.name: e for e in run(lanes.list_all())}
    assert [w.code for w in listed["mail"].warnings] == ["shadowed"]
    assert "L1 lane 'mail' is never reached" in listed["mail"].warnings[0].detail
    assert listed["any"].warnings == () and listed["other"].warnings == ()
    assert (listed["mail"].rank, listed["mail"].managed_by) == (2, API)
    assert run(lanes.get("mail")).warnings == listed["mail"].warnings


def test_placement_warnings_look_at_the_entry_s_own_list() -> None:
    lanes = _catalog()
    items = [
        Lane(name="any", tier="L1"),
        Lane(name="mail", tier="L1", services=["mail"]),
        Lane(name="x", tier="L2"),
    ]
    warnings = lanes.warnings(items, "mail", is_placed_last=True)
    assert [w.code for w in warnings] == ["placed_last", "shadowed"]
    assert lanes.warnings(items, "x", is_placed_last=False) == ()


def test_applying_the_file_again_keeps_api_entries_where_they_were() -> None:
    lanes = _catalog()
    declared = [Lane(name="f1", tier="L1"), Lane(name="f2", tier="L1")]
    run(lanes.apply_config(declared, T0))
    run(lanes.add(Lane(name="api", tier="L1"), T0, ranking.Placement(before="f2")))
    run(lanes.apply_config(declared, T1))
    assert _names(lanes, "L1") == [("f1", 1), ("api", 2), ("f2", 3)]
    f1 = run(lanes.found("f1"))
    assert (f1.managed_by, f1.created_at, f1.updated_at) == (CONFIG, T0, T1)
    # the file moves f2 to L2: it leaves L1's list and joins L2's in the file's order
    run(lanes.apply_config([Lane(name="f1", tier="L1"), Lane(name="f2", tier="L2")], T1))
    assert _names(lanes, "L1") == [("f1", 1), ("api", 2)]
    assert _names(lanes, "L2") == [("f2", 1)]


def test_the_file_never_resets_what_is_set_only_when_made() -> None:
    unranked = Resource[LaneRow, Lane](
        row=LaneRow,
        what="lane",
        article="a",
        item_of=_lane_of,
        columns=lambda lane: {"spec": {"services": lane.services}},
        on_create=lambda lane: {"tier": lane.tier},
    )
    lanes = _catalog(unranked)
    run(lanes.apply_config([Lane(name="a", tier="L1")], T0))
    run(lanes.apply_config([Lane(name="a", tier="L2", services=["mail"])], T1))
    row = run(lanes.found("a"))
    assert (row.tier, row.spec, row.rank) == ("L1", {"services": ["mail"]}, 0)


# --- schemas ---------------------------------------------------------------------------------------


class LaneFields(BaseModel):
    tier: str
    services: list[str] = Field(default_factory=list, description="Empty: any service")


class LaneAnswer(LaneFields):
    name: str
    held: int


SCHEMAS = catalog_schemas(
    "Lane",
    LaneFields,
    LaneAnswer,
    ranked=True,
    example={"name": "a", "tier": "L1"},
    placed_example={"rank": 1},
    managed_by_description="config or api",
)


def test_the_schemas_are_named_for_the_resource_and_keep_the_field_order() -> None:
    create, replace, out = SCHEMAS.create, SCHEMAS.replace, SCHEMAS.out
    assert replace is not None and out is not None
    assert (create.__name__, replace.__name__, out.__name__) == ("LaneIn", "LaneReplace", "LaneOut")
    assert list(create.model_fields) == ["tier", "services", "name", "rank", "before", "after"]
    assert list(replace.model_fields) == ["tier", "services", "rank", "before", "after"]
    assert list(out.model_fields) == [
        "tier",
        "services",
        "name",
        "rank",
        "held",
        "managed_by",
        "updated_at",
        "rank_warnings",
    ]
    assert create.model_json_schema()["examples"] == [{"name": "a", "tier": "L1", "rank": 1}]
    assert replace.model_json_schema()["examples"] == [{"tier": "L1"}]
    assert out.model_json_schema()["properties"]["managed_by"]["description"] == "config or api"
    assert not issubclass(create, Lane), "API models are not domain models"


def test_requests_refuse_unknown_fields_and_two_placements() -> None:
    with pytest.raises(ValueError, match="extra"):
        SCHEMAS.create.model_validate({"name": "a", "tier": "L1", "colour": "red"})
    body = SCHEMAS.create.model_validate({"name": "a", "tier": "L1", "before": "b"})
    assert body.placement() == ranking.Placement(before="b")  # type: ignore[attr-defined]
    with pytest.raises(InvalidInput):
        SCHEMAS.create.model_validate({"name": "a", "tier": "L1", "rank": 1, "after": "b"}).placement()  # type: ignore[attr-defined]


def test_name_first_and_fields_only_the_create_model_takes() -> None:
    class Extra(BaseModel):
        enabled: bool = True

    schemas = catalog_schemas("Thing", LaneFields, is_name_first=True, extra_in=Extra, replace=False)
    assert list(schemas.create.model_fields) == ["name", "tier", "services", "enabled"]
    assert schemas.replace is None and schemas.out is None


def test_domain_rules_refused_on_conversion_are_422s_naming_the_body_field() -> None:
    with pytest.raises(RequestValidationError) as refused:
        to_domain(Lane, {"name": "a", "tier": "L1", "services": ["mail", "mail"]})
    (error,) = refused.value.errors()
    assert error["loc"] == ("body", "services")
    assert "appears twice" in error["msg"]
    assert to_domain(Lane, {"name": "a", "tier": "L1"}) == Lane(name="a", tier="L1")


def test_answers_are_filled_field_by_field_from_the_domain() -> None:
    lane = Lane(name="a", tier="L1", services=["mail"])
    assert fields_of(lane, LaneFields) == {"tier": "L1", "services": ["mail"]}
    with pytest.raises(AttributeError):
        fields_of(lane, LaneAnswer)  # a field the domain does not have is an error, not a silent gap


# --- routes ----------------------------------------------------------------------------------------


async def _nothing(*_: Any) -> Any:
    return None


class _Lanes:
    """A resource's use cases by their standard names."""

    list_all = get = create = replace = delete = staticmethod(_nothing)


def test_the_routes_keep_their_operation_names_codes_and_summaries() -> None:
    router = APIRouter(prefix="/v1/x", tags=["lanes"])
    mount(
        router,
        "/lanes",
        SCHEMAS,
        CatalogOps[Any, Any, Any](
            Work(unit_of_work=lambda _rt, session: session, deps=lambda _rt: None),
            "lane",
            _Lanes,
            PerRoute(
                list="Every lane",
                create="Add a lane",
                get="One lane",
                replace="Replace a lane",
                delete="Remove a lane",
            ),
            request=lambda body, name: (body, name),
            answer=lambda entry: entry,
            descriptions=PerRoute(create="More words"),
        ),
        responses={404: {"description": "No such lane"}},
    )
    app = FastAPI()
    app.include_router(router)
    paths = app.openapi()["paths"]
    collection, one = paths["/v1/x/lanes"], paths["/v1/x/lanes/{name}"]
    assert collection["get"]["operationId"] == "list_lanes_v1_x_lanes_get"
    assert collection["post"]["operationId"] == "create_lane_v1_x_lanes_post"
    assert set(collection["post"]["responses"]) == {"201", "404", "422"}
    assert collection["post"]["description"] == "More words"
    assert collection["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/LaneIn"
    )
    assert one["put"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/LaneReplace")
    assert one["put"]["parameters"][0]["schema"]["pattern"], "a replaced entry's name is validated"
    assert "pattern" not in one["get"]["parameters"][0]["schema"]
    assert "204" in one["delete"]["responses"]
    assert [one[m]["summary"] for m in ("get", "put", "delete")] == [
        "One lane",
        "Replace a lane",
        "Remove a lane",
    ]
    assert all(op["tags"] == ["lanes"] for op in [*collection.values(), *one.values()])


class _ReadOnly:
    """Use cases for reading only: the routes not summarised are not mounted, nor looked for."""

    list_all = get = staticmethod(_nothing)


def _ops(uses: Any, summaries: Any, name: str = "policy") -> CatalogOps[Any, Any, Any]:
    return CatalogOps[Any, Any, Any](
        Work(unit_of_work=lambda _rt, session: session, deps=lambda _rt: None),
        name,
        uses,
        summaries,
        request=lambda body, name: (body, name),
        answer=lambda entry: entry,
    )


def test_only_the_summarised_routes_are_mounted_named_by_the_resource() -> None:
    router = APIRouter()
    mount(router, "/v1/policies", SCHEMAS, _ops(_ReadOnly, {"list": "All", "get": "One"}), responses={})
    app = FastAPI()
    app.include_router(router)
    paths = app.openapi()["paths"]
    assert paths["/v1/policies"]["get"]["operationId"] == "list_policies_v1_policies_get"
    assert paths["/v1/policies/{name}"]["get"]["operationId"] == "get_policy_v1_policies__name__get"
    assert set(paths["/v1/policies"]) == {"get"} and set(paths["/v1/policies/{name}"]) == {"get"}
    ops = _ops(_ReadOnly, {}, name="day")
    assert ops.operation("list") == "list_days"
    assert _ops(_ReadOnly, {}, name="lane").operation("delete") == "delete_lane"


def test_a_route_without_its_use_case_or_an_unknown_verb_fails_at_mount() -> None:
    with pytest.raises(TypeError, match="create"):
        mount(APIRouter(), "/x", SCHEMAS, _ops(_ReadOnly, {"create": "Add"}), responses={})
    with pytest.raises(TypeError, match="patch"):
        mount(APIRouter(), "/x", SCHEMAS, _ops(_ReadOnly, {"patch": "Change"}), responses={})


def test_a_ranked_request_becomes_the_entry_and_its_placement() -> None:
    body = SCHEMAS.create.model_validate({"name": "a", "tier": "L1", "before": "b"})
    lane, placement = placed(Lane)(body, "a")
    assert lane == Lane(name="a", tier="L1") and placement == ranking.Placement(before="b")
    replacing = SCHEMAS.replacing.model_validate({"tier": "L2", "rank": 2})
    assert placed(Lane)(replacing, "a") == (Lane(name="a", tier="L2"), ranking.Placement(rank=2))


def test_what_the_catalog_keeps_fills_only_the_answer_fields_it_has() -> None:
    listed = Listed(item=Lane(name="a", tier="L1"), managed_by=API, updated_at=T1, created_at=T0, rank=1)
    assert kept(listed, SCHEMAS.answer) == {
        "rank": 1,
        "managed_by": API,
        "updated_at": T1,
        "rank_warnings": [],
    }

    class Plain(BaseModel):
        managed_by: str
        created_at: datetime
        updated_at: datetime

    assert kept(listed, Plain) == {"managed_by": API, "created_at": T0, "updated_at": T1}
