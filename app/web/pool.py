"""Public pages: the pool search with its map, and one listed outlet's detail page."""

from __future__ import annotations

import json

from flask import Blueprint, current_app, get_template_attribute, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from markupsafe import Markup

from services import certificates, data_versions, divisions, money, outlets, pool_search, registry_export
from services.errors import ValidationFailed

bp = Blueprint("pool", __name__)

# The form asks for the fee in yuan; everything else keeps the API's parameter names, so a
# page URL reads like the API query it runs.
FORM_FIELDS = ("province", "city", "district", "type", "certified", "min_capacity_t",
               "max_annual_fee", "q", "near", "radius_km", "sort", "per_page")


def _api_params(form: dict) -> tuple[dict, dict]:
    params = {k: v for k, v in form.items() if k != "max_annual_fee"}
    params["page"] = request.args.get("page", "")
    errors = {}
    if form.get("max_annual_fee"):
        try:
            params["max_annual_fee_fen"] = money.fen_from_yuan(form["max_annual_fee"])
        except ValueError:
            errors["max_annual_fee"] = [_("must be an amount in yuan, e.g. 12000 or 12000.50")]
    return params, errors


def map_settings() -> dict:
    """The map's tile server (a setting, so a deployment can use Tianditu or AMap tiles)."""
    config = current_app.config
    return {"tile_url": config.get("MAP_TILE_URL", ""),
            "tile_attribution": config.get("MAP_TILE_ATTRIBUTION", ""),
            "tile_subdomains": config.get("MAP_TILE_SUBDOMAINS", "")}


def _province_labels(index) -> str:
    """[[short name, lat, lon]] for the map's offline background."""
    return json.dumps([[ref.short_name, ref.lat, ref.lon] for ref in index.members("province")
                       if ref.lat is not None], ensure_ascii=False)


@bp.route("/pool")
def search():
    query = tuple((k, request.args.get(k, "")) for k in (*FORM_FIELDS, "page"))
    language = get_locale().language
    content = data_versions.cached("pool", ("pool page", query, language), _search_content)
    return render_template("pool/search.html", content=content), 200


def _search_content() -> Markup:
    """The page below the navigation: its form, pickers, map and results are a function of
    the query and the pool alone, so rendered once per query, language and pool version."""
    form = {k: request.args.get(k, "").strip() for k in FORM_FIELDS}
    params, errors = _api_params(form)
    criteria = page = None
    try:
        criteria = pool_search.parse(params)
    except ValidationFailed as error:
        errors.update({("max_annual_fee" if k == "max_annual_fee_fen" else k): v
                       for k, v in error.fields.items()})
    if criteria is not None and not errors:
        page = pool_search.search(criteria)
    index = divisions.index()
    canonical = criteria.as_params() if criteria is not None and not errors else {}
    return get_template_attribute("pool/_search_content.html", "content")(
        form=form, errors=errors, criteria=criteria, page=page,
        options=_division_options(index, criteria),
        link_params={k: v for k, v in form.items() if v},
        points_url=url_for("api_pool.map_points", **canonical),
        export_urls={f: url_for("api_pool.export_outlets", format=f, **canonical)
                     for f in registry_export.FORMATS},
        export_limit=registry_export.EXPORT_LIMIT, province_labels=_province_labels(index),
        map_settings=map_settings(), max_radius=pool_search.MAX_RADIUS_KM,
        default_radius=pool_search.DEFAULT_RADIUS_KM)


def _division_options(index, criteria) -> dict:
    province = criteria.province_code if criteria else None
    city = criteria.city_code if criteria else None

    return {
        "provinces": index.members("province"),
        "cities": index.members("prefecture", province) if province else (),
        "districts": index.members("district", city) if city else (),
        "province": province, "city": city,
        "district": criteria.district_code if criteria else None,
    }


@bp.route("/outlets/<int:outlet_id>")
def detail(outlet_id: int):
    item = pool_search.public_detail(outlet_id)
    language = get_locale().language
    public = data_versions.cached("pool", ("outlet page", outlet_id, language),
                                  lambda: _public_parts(item, language))
    return render_template("pool/detail.html", outlet=item, public=public)


def _public_parts(item: dict, language: str) -> dict[str, Markup]:
    """The outlet page minus what depends on the visitor, rendered once per pool version and
    language: most of the page's cost, and the same for everyone who opens it."""
    suffix = "zh" if language == "zh" else "en"
    names = {kind: {o["code"]: o[f"name_{suffix}"] for o in outlets.options()[kind]}
             for kind in ("chemistries", "safety_classes")}
    option_names = {kind: [names[kind].get(code, code) for code in item[kind]] for kind in names}
    template = "pool/_detail_public.html"
    return {"top": get_template_attribute(template, "top")(item, option_names, map_settings()),
            "compliance": get_template_attribute(template, "compliance")(
                item, certificates.valid_for_outlet(item["id"]))}
