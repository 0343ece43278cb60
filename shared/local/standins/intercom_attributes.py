"""Intercom's data attributes, as the Intercom stand-in keeps them: from API 2.0 on, "Custom
Data Attributes can only be created through the Data Attributes API. If you want to update a
contact with an attribute that does not exist yet then you must create it through the Data
Attributes API and update the contact afterwards" (Intercom's 2.0 changelog). So:

- ``GET /data_attributes?model=contact|company`` lists them (``{"type": "list", "data"}``, the
  standard attributes with ``custom: false`` too);
- ``POST /data_attributes`` creates one: ``name`` (letters, digits, spaces, ``_``, ``-`` and
  currency symbols; not a standard attribute's), ``model`` ``contact`` or ``company``,
  ``data_type`` ``string``, ``integer``, ``float``, ``boolean``, ``date``, ``datetime`` or
  ``options`` (with at least two ``options``); a name the model already has is a 400
  "You already have '<name>' in your people data" (company data for companies);
- a contact or company write whose ``custom_attributes`` name an attribute the model does not
  have is a 400 ``parameter_invalid`` "Custom attribute '<name>' does not exist", and a value
  of another type than the attribute's a 400 too.
"""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Mapping
from typing import Any

MODELS = ("contact", "company")
DATA_TYPES = frozenset({"string", "integer", "float", "boolean", "date", "datetime", "options"})
STANDARD = {
    "contact": ("name", "email", "phone", "external_id", "avatar", "signed_up_at", "role"),
    "company": ("name", "company_id", "plan", "size", "website", "industry", "monthly_spend"),
}
PEOPLE = {"contact": "people", "company": "company"}

BAD_MODEL = "The Data Attribute model field must be either contact or company"
BAD_TYPE = "Data Type isn't an option"
BAD_NAME = (
    "Your name for this attribute must only contain alphanumeric characters, currency "
    "symbols, and hyphens"
)
STANDARD_NAME = "'{name}' is one of our standard attributes for your {people} data."
ALREADY = "You already have '"
EXISTS = (
    ALREADY + "{name}' in your {people} data. To save this as new {people} data, use a "
    "different name."
)
FEW_OPTIONS = "You must have at least two options on a list type data attribute"
UNKNOWN = "Custom attribute '{name}' does not exist"
WRONG_TYPE = "Custom attribute '{name}' is of type {kind}"


def _valid_name(name: Any) -> bool:
    if not isinstance(name, str) or not name.strip() or len(name) > 190:
        return False
    return all(c.isalnum() or c in " _-" or unicodedata.category(c) == "Sc" for c in name)


def _holds(kind: str, value: Any) -> bool:
    """Whether an attribute of type ``kind`` takes ``value`` (dates are Unix seconds)."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return {
        "string": isinstance(value, str | dict),
        "options": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "float": number,
        "boolean": isinstance(value, bool),
        "date": isinstance(value, int) and not isinstance(value, bool),
        "datetime": isinstance(value, int) and not isinstance(value, bool),
    }.get(kind, False)


class DataAttributes:
    """Each model's custom attributes, by name."""

    def __init__(self) -> None:
        self.custom: dict[str, dict[str, dict[str, Any]]] = {m: {} for m in MODELS}
        self._ids = itertools.count(101)

    def clear(self) -> None:
        for found in self.custom.values():
            found.clear()

    def listing(self, model: str | None) -> tuple[int, Any]:
        if model is not None and model not in MODELS:
            return 400, BAD_MODEL
        data = [
            item
            for m in MODELS
            if model in (None, m)
            for item in [*(self._standard(m, n) for n in STANDARD[m]), *self.custom[m].values()]
        ]
        return 200, {"type": "list", "data": data}

    def create(self, payload: Mapping[str, Any]) -> tuple[int, Any]:
        """(status, the attribute or Intercom's error message)."""
        model, name, kind = payload.get("model"), payload.get("name"), payload.get("data_type")
        if model not in MODELS:
            return 400, BAD_MODEL
        if kind not in DATA_TYPES:
            return 400, BAD_TYPE
        if not _valid_name(name):
            return 400, BAD_NAME
        people = PEOPLE[str(model)]
        if name in STANDARD[str(model)]:
            return 400, STANDARD_NAME.format(name=str(name).capitalize(), people=people)
        if name in self.custom[str(model)]:
            return 400, EXISTS.format(name=name, people=people)
        options = payload.get("options")
        if kind == "options" and not (isinstance(options, list) and len(options) >= 2):
            return 400, FEW_OPTIONS
        found = {**self._standard(str(model), str(name)), "id": next(self._ids),
                 "data_type": kind, "custom": True, "api_writable": True}  # fmt: skip
        self.custom[str(model)][str(name)] = found
        return 200, found

    def problem(self, model: str, values: Mapping[str, Any]) -> str:
        """Why Intercom refuses a write of these custom attributes ("" when it takes them)."""
        for name, value in values.items():
            attribute = self.custom[model].get(name)
            if attribute is None:
                return UNKNOWN.format(name=name)
            if value is not None and not _holds(attribute["data_type"], value):
                return WRONG_TYPE.format(name=name, kind=attribute["data_type"])
        return ""

    @staticmethod
    def _standard(model: str, name: str) -> dict[str, Any]:
        return {"type": "data_attribute", "model": model, "name": name,
                "full_name": f"custom_attributes.{name}" if name not in STANDARD[model] else name,
                "label": name.replace("_", " ").title(), "data_type": "string",
                "custom": False, "archived": False, "api_writable": True}  # fmt: skip
