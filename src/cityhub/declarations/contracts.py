"""Data contracts (``schemas/contracts/*.yaml``): what a dataset's rows look like.

Fields, types, nullability, keys, sensitivity and masking, quality rules. The
Arrow schema, the Great Expectations suite and the API's field list are derived
from a contract; references to other datasets are checked when the whole set is
loaded (``cityhub.declarations.registry``).
"""
from __future__ import annotations

import re
from functools import cached_property
from typing import Annotated, Any, Literal

import pyarrow as pa
from pydantic import (AfterValidator, BeforeValidator, Discriminator, Field, StringConstraints, Tag,
                      field_validator, model_validator)

from cityhub.declarations.fieldtypes import FIELD_TYPES, FieldTypeName, MaskKind, Sensitivity, check_mask
from cityhub.declarations.loading import Declared, fold

Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
"""A dataset, field or connector name: lower-case letters, digits and underscores."""
Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
"""A quarantine reason code (the part of a reason before the colon)."""
Text = Annotated[str, BeforeValidator(lambda v: "" if v is None else v), AfterValidator(fold)]


class _Rule(Declared):
    code: Code
    reason: Annotated[str, StringConstraints(min_length=1)]
    """Why a row that breaks the rule is refused (shown in quarantine as ``code: reason``)."""


def _regex(v: str) -> str:
    try:
        re.compile(v)
    except re.error as e:
        raise ValueError(f"not a regular expression: {e}") from None
    return v


Regex = Annotated[str, AfterValidator(_regex)]
"""A regular expression Python compiles."""


class RegexRule(_Rule):
    regex: Regex


class InRule(_Rule):
    in_: tuple[str, ...] = Field(alias="in", min_length=1)


class InCityCountiesRule(_Rule):
    in_city_counties: Literal[True]
    """The value is a county code of the configured city."""


class BetweenRule(_Rule):
    between: tuple[float, float]

    @model_validator(mode="after")
    def _ordered(self):
        if self.between[0] > self.between[1]:
            raise ValueError(f"between: {self.between[0]} is above {self.between[1]}")
        return self


class PrefixOfRule(_Rule):
    prefix_of: Name
    """Another field whose first ``length`` characters must agree with this one's."""
    length: int = Field(6, ge=1, le=64)


class CheckRule(_Rule):
    check: Literal["gb11643", "gb32100"]
    """A national identifier's check character: citizen ID number or unified social credit code."""


class NotBeforeRule(_Rule):
    not_before: Name


class Reference(Declared):
    dataset: Name
    field: Name


class ReferencesRule(_Rule):
    references: Reference
    """The value exists in another lake dataset's field."""


RULE_KINDS = {"regex": RegexRule, "in": InRule, "in_city_counties": InCityCountiesRule, "between": BetweenRule,
              "prefix_of": PrefixOfRule, "check": CheckRule, "not_before": NotBeforeRule,
              "references": ReferencesRule}


def _rule_kind(v: Any) -> str | None:
    if isinstance(v, dict):
        kinds = [k for k in RULE_KINDS if k in v]
        return f"<{kinds[0]}>" if kinds else None
    for k, model in RULE_KINDS.items():
        if isinstance(v, model):
            return f"<{k}>"
    return None


Rule = Annotated[
    Annotated[RegexRule, Tag("<regex>")] | Annotated[InRule, Tag("<in>")]
    | Annotated[InCityCountiesRule, Tag("<in_city_counties>")] | Annotated[BetweenRule, Tag("<between>")]
    | Annotated[PrefixOfRule, Tag("<prefix_of>")] | Annotated[CheckRule, Tag("<check>")]
    | Annotated[NotBeforeRule, Tag("<not_before>")] | Annotated[ReferencesRule, Tag("<references>")],
    Discriminator(_rule_kind, custom_error_type="unknown_kind",
                  custom_error_message=f"a rule needs one of the keys {', '.join(RULE_KINDS)}"),
]


class ContractField(Declared):
    """One field of a contract."""
    name: Name
    type: FieldTypeName
    nullable: bool = True
    filterable: bool = False
    sensitivity: Sensitivity = "public"
    mask: MaskKind | None = None
    """How a personal field is masked (required for, and only for, personal fields)."""
    description: Text = ""
    rules: tuple[Rule, ...] = ()

    @model_validator(mode="after")
    def _masking(self):
        check_mask(self.name, self.sensitivity, self.mask)
        return self

    @property
    def arrow_type(self) -> pa.DataType:
        return FIELD_TYPES[self.type].arrow

    @property
    def sql_type(self) -> str:
        return FIELD_TYPES[self.type].sql

    @property
    def personal(self) -> bool:
        return self.sensitivity == "personal"


class Contract(Declared):
    """A dataset: its rows, keys and rules."""
    name: Name
    title: str = ""
    description: Text = ""
    version: int = Field(ge=1)
    category: str | None = None
    """The catalogue category it is served under (``cityhub.declarations.catalogue``)."""
    owner: str | None = None
    grain: str = ""
    kind: Literal["snapshot", "events"] = "snapshot"
    """``snapshot``: rows are facts as of a date, re-observing one is harmless;
    ``events``: each row is one occurrence, a repeated key is a duplicate delivery."""
    system: bool = False
    """Written by the hub itself (indicator values, quarantine), not by a connector."""
    key: tuple[Name, ...] = Field(min_length=1)
    batch_key: tuple[Name, ...] | None = None
    """What may appear only once in one delivery (default: the key). An inventory keyed by
    (id, version) still lists each id once per export."""
    region_field: Name | None = None
    time_field: Name | None = None
    sort_by: tuple[Name, ...] = ()
    fields: tuple[ContractField, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _title(self):
        if not self.title:
            object.__setattr__(self, "title", self.name)
        return self

    @field_validator("fields")
    @classmethod
    def _unique(cls, fields: tuple[ContractField, ...]):
        seen = set()
        for f in fields:
            if f.name in seen:
                raise ValueError(f"field {f.name} is declared twice")
            seen.add(f.name)
        return fields

    @model_validator(mode="after")
    def _references(self):
        names = {f.name for f in self.fields}
        for what, used in (("key", self.key), ("batch_key", self.batch_key or ()), ("sort_by", self.sort_by),
                           ("region_field", [self.region_field] if self.region_field else []),
                           ("time_field", [self.time_field] if self.time_field else [])):
            unknown = [n for n in used if n not in names]
            if unknown:
                raise ValueError(f"{what} names {', '.join(unknown)}, not a field of {self.name}")
        for f in self.fields:
            for r in f.rules:
                other = getattr(r, "prefix_of", None) or getattr(r, "not_before", None)
                if other is not None and other not in names:
                    raise ValueError(f"field {f.name}: rule {r.code} names {other}, not a field of {self.name}")
        return self

    # -- derived --------------------------------------------------------------------

    @cached_property
    def _by_name(self) -> dict[str, ContractField]:
        return {f.name: f for f in self.fields}

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def unique_in_batch(self) -> tuple[str, ...]:
        return self.batch_key or self.key

    @property
    def personal_fields(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields if f.personal)

    def has(self, name: str) -> bool:
        return name in self._by_name

    def field(self, name: str) -> ContractField:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"{self.name} has no field {name!r}") from None

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(f.name, f.arrow_type, nullable=f.nullable) for f in self.fields])

    def staging_schema(self) -> pa.Schema:
        """The schema of rows before validation: same types, everything nullable."""
        return pa.schema([pa.field(f.name, f.arrow_type, nullable=True) for f in self.fields])

    def conform(self, table: pa.Table) -> pa.Table:
        """Cast ``table`` to the contract's schema (column order, types, nullability)."""
        return table.select(self.field_names).cast(self.arrow_schema())

    def references(self) -> list[tuple[int, int, Reference]]:
        """(field index, rule index, reference) of every ``references`` rule."""
        return [(i, j, r.references) for i, f in enumerate(self.fields) for j, r in enumerate(f.rules)
                if isinstance(r, ReferencesRule)]
