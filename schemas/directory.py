"""The agency directory: who may send and receive through the hub."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.agency import AgencyCode


class Level(StrEnum):
    """Administrative level of an agency (drives coverage roll-ups)."""

    PROVINCE = "province"
    DEPARTMENT = "department"
    DISTRICT = "district"
    COMMUNE = "commune"
    UNIT = "unit"


class Agency(BaseModel):
    """One directory entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: AgencyCode
    name: str = Field(min_length=1, max_length=255)
    parent: AgencyCode | None = None
    level: Level
    active: bool = True

    @model_validator(mode="after")
    def _parent_rules(self) -> Agency:
        if self.parent == self.code:
            raise ValueError(f"agency {self.code} is its own parent")
        if self.level is Level.PROVINCE and self.parent is not None:
            raise ValueError(f"province {self.code} cannot have a parent")
        if self.level is not Level.PROVINCE and self.parent is None:
            raise ValueError(f"agency {self.code} ({self.level}) needs a parent")
        return self


class DirectoryFile(BaseModel):
    """The on-disk directory format (docs/directory.md)."""

    model_config = ConfigDict(extra="forbid")

    v: int = Field(default=1, ge=1, le=1)
    province: str = ""
    note: str = ""
    agencies: list[Agency]
