"""Pure checks of an outlet's size against the rule set in force (limits are rule data).

A rule set's `outlet_types.<type>` block holds limits named `min_<measure>` / `max_<measure>`;
MEASURES says which outlet field each measure reads, so a new limit is a data change.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import LazyString, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

# measure name in the rule data -> outlet field it constrains
MEASURES = {
    "storage_area_m2": "storage_area_m2",
    "stored_weight_t": "max_stored_weight_t",
    "annual_capacity_t": "annual_capacity_t",
}


# How a measure reads in a message.
LABELS = {
    "storage_area_m2": _l("storage area"),
    "max_stored_weight_t": _l("maximum stored weight"),
    "annual_capacity_t": _l("annual handling capacity"),
}
UNITS = {"storage_area_m2": "m²", "max_stored_weight_t": "t", "annual_capacity_t": "t"}


def _message(block: dict, field: str, bound: str, limit) -> LazyString:
    """Rendered in the reader's language when shown: the rule's own name in that language."""

    def render() -> str:
        chinese = get_locale() is not None and get_locale().language == "zh"
        type_name = block.get("name_zh" if chinese else "name_en") or block.get("name_en", "")
        return _("%(type)s: %(field)s must be %(op)s %(limit)s %(unit)s "
                 "(rule %(rule)s; source: %(source)s)",
                 type=type_name, field=str(LABELS[field]), op="≥" if bound == "min" else "≤",
                 limit=limit, unit=UNITS[field], rule=block.get("rule_ref", "?"),
                 source=block.get("source", ""))

    return LazyString(render)


@dataclass(frozen=True)
class Violation:
    field: str
    message: object
    rule_ref: str
    source: str


def type_limit_violations(parameters: dict, outlet_type: str, values: dict) -> list[Violation]:
    """Every limit the outlet's figures break, each citing its rule and source."""
    block = (parameters.get("outlet_types") or {}).get(outlet_type)
    if not block:
        return []
    found = []
    for key, limit in block.items():
        bound, _, measure = key.partition("_")
        if bound not in ("min", "max") or measure not in MEASURES or limit is None:
            continue
        field = MEASURES[measure]
        value = values.get(field)
        if value is None:
            continue
        if (bound == "min" and value < limit) or (bound == "max" and value > limit):
            found.append(Violation(field, _message(block, field, bound, limit),
                                   block.get("rule_ref", ""), block.get("source", "")))
    return found
