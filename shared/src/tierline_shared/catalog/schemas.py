"""The API models of a catalog resource, made from the API's own field declarations.

A resource's API declares its fields once, in a model of its own (never a domain model), and
``catalog_schemas`` makes from it the models its routes take and answer: ``<Resource>In`` (the
fields, the name, and where to place it when ranked), ``<Resource>Replace`` (the same without
the name, which is in the path) and ``<Resource>Out`` (the answer's fields with the rank, who
manages the entry, when it changed and, ranked, the warnings its place earns). Requests become
domain entries through ``to_domain``; answers are filled field by field with ``fields_of``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar, cast

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from tierline_shared import ranking
from tierline_shared.catalog.resource import Listed
from tierline_shared.catalog_schemas import PLACEMENT, Name, PlacementIn, RankWarningOut, rank_warnings_out
from tierline_shared.schemas import ApiModel

__all__ = ["PLACEMENT", "CatalogSchemas", "catalog_schemas", "fields_of", "kept", "placed", "to_domain"]

D = TypeVar("D", bound=BaseModel)


@dataclass(frozen=True)
class CatalogSchemas:
    """A resource's request and answer models (``replace`` and ``out`` when it has them)."""

    create: type[BaseModel]
    replace: type[BaseModel] | None
    out: type[BaseModel] | None

    @property
    def replacing(self) -> type[BaseModel]:
        """What replacing takes: the Replace model, or In's when the resource has none (name in the body)."""
        return self.replace or self.create

    @property
    def answer(self) -> type[BaseModel]:
        """The Out model; TypeError for a resource made without one (``out=`` not given)."""
        if self.out is None:
            raise TypeError("these schemas have no answer model: catalog_schemas(..., out=...) makes one")
        return self.out


def _model(
    model_name: str, bases: tuple[type, ...], module: str, config: ConfigDict, **annotations: Any
) -> Any:
    namespace: dict[str, Any] = {
        "__module__": module,
        "__qualname__": model_name,
        "__annotations__": annotations,
        "model_config": config,
    }
    return type(model_name, bases, namespace)


def _ordered(model: type[BaseModel]) -> dict[str, Any]:
    return {n: (f.annotation, f) for n, f in model.model_fields.items()}


def catalog_schemas(
    resource: str,
    fields: type[BaseModel],
    out: type[BaseModel] | None = None,
    *,
    module: str | None = None,
    name: Any = Name,
    is_name_first: bool = False,
    ranked: bool = False,
    replace: bool = True,
    example: Mapping[str, Any] | None = None,
    placed_example: Mapping[str, Any] | None = None,
    extra_in: type[BaseModel] | None = None,
    out_config: ConfigDict | None = None,
    rank_description: str = "Position in the match order, 1 tried first",
    managed_by_description: str | None = None,
    has_created_at: bool = False,
) -> CatalogSchemas:
    """The In / Replace / Out models of ``resource`` ("Queue": QueueIn, QueueReplace, QueueOut).

    ``fields``: the entry's API fields but its name, in order (an API model, with any rules of
    its own); ``out``: the answer's own fields, ``name`` among them; ``rank`` follows the name,
    then ``managed_by`` (``created_at``), ``updated_at`` and, ranked, ``rank_warnings``.
    ``module``: where the models are said to be made (unsaid: the module of ``fields``, the API's).
    ``name``: the name's type, put before or after the fields (``is_name_first``); ``ranked``: In
    and Replace take ``rank``, ``before`` or ``after``; ``example``: the In example (Replace's is
    the same without the name), with ``placed_example`` (e.g. ``{"before": "p2"}``) added to In's;
    ``extra_in``: fields only In takes, after the rest.
    """
    module = module or fields.__module__
    named = _model(f"_{resource}Named", (BaseModel,), module, ConfigDict(), name=name)
    # the fields of the later base come first: name after the fields unless ``is_name_first``
    entry = _model(
        f"_{resource}Entry", (fields, named) if is_name_first else (named, fields), module, ConfigDict()
    )
    placed = (PlacementIn,) if ranked else ()
    extra = (extra_in,) if extra_in is not None else ()
    in_example = {**example, **(placed_example or {})} if example is not None else None
    create = _model(
        f"{resource}In",
        (ApiModel, *extra, *placed, entry),
        module,
        _config(in_example),
    )
    replacing = None
    if replace:
        replace_example = {k: v for k, v in (example or {}).items() if k != "name"} if example else None
        replacing = _model(
            f"{resource}Replace", (ApiModel, *placed, fields), module, _config(replace_example)
        )
    answer = None
    if out is not None:
        answer = _out_model(
            resource,
            out,
            module,
            out_config,
            ranked,
            rank_description,
            managed_by_description,
            has_created_at,
        )
    return CatalogSchemas(create=create, replace=replacing, out=answer)


def _config(example: Mapping[str, Any] | None) -> ConfigDict:
    if example is None:
        return ConfigDict(extra="forbid")
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [dict(example)]})


def _out_model(
    resource: str,
    out: type[BaseModel],
    module: str,
    config: ConfigDict | None,
    ranked: bool,
    rank_description: str,
    managed_by_description: str | None,
    has_created_at: bool,
) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for field_name, spec in _ordered(out).items():
        fields[field_name] = spec
        if field_name == "name" and ranked:
            fields["rank"] = (int, Field(description=rank_description))
    fields["managed_by"] = (str, Field(description=managed_by_description) if managed_by_description else ...)
    if has_created_at:
        fields["created_at"] = (datetime, ...)
    fields["updated_at"] = (datetime, ...)
    if ranked:
        fields["rank_warnings"] = (
            list[RankWarningOut],
            Field(description="About its place in the match order"),
        )
    base = _model(f"_{resource}OutBase", (BaseModel,), module, config or ConfigDict())
    model: type[BaseModel] = create_model(f"{resource}Out", __base__=base, __module__=module, **fields)
    return model


def to_domain(model: type[D], data: Mapping[str, Any]) -> D:
    """The domain entry a request describes; its rules' refusals are 422s naming the body's fields."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


def placed(model: type[D]) -> Callable[[Any, str], tuple[D, ranking.Placement]]:
    """A ranked resource's request conversion: a body (``<Resource>In`` or ``<Resource>Replace``)
    and the entry's name become the domain entry and where to place it."""

    def request(body: Any, name: str) -> tuple[D, ranking.Placement]:
        return to_domain(model, {**body.model_dump(exclude=PLACEMENT), "name": name}), body.placement()

    return request


class Kept(Protocol):
    """What the catalog keeps about an entry besides the entry (``resource.Listed``, or a service's own
    view of it): who manages it and when it changed; ``rank``, ``created_at`` and ``warnings`` too where
    the answer has them."""

    @property
    def managed_by(self) -> str: ...
    @property
    def updated_at(self) -> datetime: ...


def kept(entry: Kept, out: type[BaseModel]) -> dict[str, Any]:
    """What the catalog keeps about ``entry``, as ``out`` (a ``<Resource>Out``) answers it: its rank,
    who manages it, when it was made and changed, the warnings its place earns."""
    values: dict[str, Any] = {
        f: getattr(entry, f)
        for f in ("rank", "managed_by", "created_at", "updated_at")
        if f in out.model_fields
    }
    if "rank_warnings" in out.model_fields:
        values["rank_warnings"] = rank_warnings_out(cast("Listed[Any]", entry))  # a ranked entry is listed
    return values


def fields_of(source: Any, model: type[BaseModel], *, leave: frozenset[str] = frozenset()) -> dict[str, Any]:
    """``model``'s fields read from ``source`` by name (a domain entry): an answer filled explicitly."""
    return {n: getattr(source, n) for n in model.model_fields if n not in leave}
