"""Request and answer parts every catalog admin API shares: where an entry goes, what its place earns."""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import Path
from pydantic import BaseModel, Field

from tierline_shared import ranking

# A catalog entry's name, as every catalog spells it (letters, digits, . _ -).
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=NAME_PATTERN)]
# The same, as a path parameter: a bad name is a 422 naming it, before any handler runs.
NamePath = Annotated[str, Path(min_length=1, max_length=100, pattern=NAME_PATTERN)]

PLACEMENT = {"rank", "before", "after"}


class PlacementIn(BaseModel):
    """Where a created or replaced entry goes in the match order: one of rank, before or after."""

    rank: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="Position in the match order, 1 tried first; the entries from there move down one",
    )
    before: Name | None = Field(default=None, description="Just before this entry")
    after: Name | None = Field(default=None, description="Just after this entry")

    def placement(self) -> ranking.Placement:
        """None given: a new entry goes last (with a warning), a replaced one keeps its place."""
        return ranking.Placement(rank=self.rank, before=self.before, after=self.after)


class RankWarningOut(BaseModel):
    code: ranking.WarningCode = Field(
        description="placed_last (no position was given), shadowed (earlier entries take every "
        "incident it matches: it is never reached) or shadows (it takes every incident of later ones)"
    )
    detail: str
    entries: list[str] = Field(description="The other entries the warning is about")


class _Warned(Protocol):
    @property
    def warnings(self) -> tuple[ranking.CatalogWarning, ...]: ...


def rank_warnings_out(ranked: _Warned) -> list[RankWarningOut]:
    """The warnings of an entry (``ranking.Ranked``, ``catalog.resource.Listed``) as the API shows them."""
    return [RankWarningOut(code=w.code, detail=w.detail, entries=list(w.entries)) for w in ranked.warnings]
