"""Pure checks of an outlet's size against the rule set in force (limits are rule data).

A rule set's `outlet_types.<type>` block holds limits named `min_<measure>` / `max_<measure>`;
MEASURES says which outlet field each measure reads, so a new limit is a data change.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

# measure name in the rule data -> outlet field it constrains
MEASURES = {
    "storage_area_m2": "storage_area_m2",
    "stored_weight_t": "max_stored_weight_t",
    "annual_capacity_t": "annual_capacity_t",
}


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
            message = _l("%(type)s: %(field)s must be %(op)s %(limit)s (rule %(rule)s; source: %(source)s)",
                         type=block.get("name_en", outlet_type), field=field,
                         op="≥" if bound == "min" else "≤", limit=limit,
                         rule=block.get("rule_ref", "?"), source=block.get("source", ""))
            found.append(Violation(field, message, block.get("rule_ref", ""), block.get("source", "")))
    return found
