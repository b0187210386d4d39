"""One error shape, never a 500 for bad input; Chinese by default, English on request."""

import pytest

from tests.integration.conftest import org_payload


def assert_error_shape(response, status, code=None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    error = response.json["error"]
    assert set(error) == {"code", "message", "fields"}
    if code:
        assert error["code"] == code
    return error


def test_malformed_json_is_400(client):
    response = client.post("/api/v1/signup", data="{not json", content_type="application/json")
    assert_error_shape(response, 400)


def test_wrong_types_are_422_naming_the_field(client):
    payload = org_payload()
    payload["organization"]["legal_name"] = 12345
    error = assert_error_shape(client.post("/api/v1/signup", json=payload), 422)
    assert "legal_name" in error["fields"]["organization"]


def test_unknown_fields_are_422(client):
    payload = org_payload()
    payload["organization"]["is_verified"] = True
    error = assert_error_shape(client.post("/api/v1/signup", json=payload), 422)
    assert "is_verified" in error["fields"]["organization"]


def test_missing_body_is_422_listing_required_fields(client):
    error = assert_error_shape(client.post("/api/v1/signup", json={}), 422)
    assert {"organization", "user"} <= set(error["fields"])


def test_json_that_is_not_an_object_is_refused(client):
    response = client.post("/api/v1/signup", json=[1, 2, 3])
    assert response.status_code in (400, 422)
    assert "error" in response.json


def test_oversize_bodies_are_413(app, client):
    huge = "x" * (app.config["API_MAX_JSON_BYTES"] + 1)
    response = client.post("/api/v1/signup", data=huge, content_type="application/json")
    assert_error_shape(response, 413, "payload_too_large")


def test_unknown_api_route_and_wrong_method(client):
    assert_error_shape(client.get("/api/v1/nothing-here"), 404, "not_found")
    assert_error_shape(client.delete("/api/v1/signup"), 405)


@pytest.mark.parametrize("query", ["per_page=0", "page=-1", "per_page=abc"])
def test_bad_query_parameters_are_422(client, operator, query):
    response = client.get(f"/api/v1/organizations?{query}", headers=operator.headers)
    assert_error_shape(response, 422)


def test_division_lookup_errors(client):
    assert_error_shape(client.get("/api/v1/divisions/999999"), 404)


@pytest.mark.parametrize("header", ["zh-CN", "zh-Hans-CN,zh;q=0.9", "zh", ""])
def test_chinese_is_the_default(client, header):
    html = client.get("/login", headers={"Accept-Language": header}).get_data(as_text=True)
    assert 'lang="zh-CN"' in html
    assert "登录" in html


def test_english_for_english_browsers_and_the_switch_sticks(client):
    html = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(
        as_text=True)
    assert 'lang="en"' in html and "Sign in" in html
    client.get("/lang/en")
    html = client.get("/login", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert 'lang="en"' in html
    client.get("/lang/zh_CN")
    assert "登录" in client.get("/login").get_data(as_text=True)


@pytest.mark.parametrize(("lang", "text"), [("zh-CN", "未找到"), ("en", "Not found")])
def test_error_pages_in_both_languages(client, lang, text):
    response = client.get("/no-such-page", headers={"Accept-Language": lang})
    assert response.status_code == 404
    assert text in response.get_data(as_text=True)


def test_api_validation_messages_follow_the_language(client):
    payload = org_payload()
    payload["organization"]["credit_code"] = "123"
    zh = client.post("/api/v1/signup", json=payload, headers={"Accept-Language": "zh-CN"})
    en = client.post("/api/v1/signup", json=payload, headers={"Accept-Language": "en"})
    assert "18" in zh.json["error"]["fields"]["organization"]["credit_code"][0]
    assert zh.json["error"]["fields"] != en.json["error"]["fields"]


def test_openapi_document_describes_the_contract(client):
    spec = client.get("/api/v1/openapi.json").json
    paths = spec["paths"]
    for path in ["/api/v1/signup", "/api/v1/auth/tokens", "/api/v1/me",
                 "/api/v1/organizations/{organization_id}/verification", "/api/v1/divisions",
                 "/api/v1/rule-sets", "/api/v1/checklist"]:
        assert path in paths, path
    assert "bearerAuth" in spec["components"]["securitySchemes"]
    docs = client.get("/api/v1/docs").get_data(as_text=True)
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs and "<script>" not in docs


def test_templates_follow_a_forced_locale_and_come_back(app):
    """Templates look the catalog up once per request (app.i18n); mail rendered in another
    language with force_locale inside that request must still switch, and switch back."""
    from flask import render_template_string
    from flask_babel import force_locale

    page = "{{ _('Not found.') }}"
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        assert render_template_string(page) == "Not found."
        with force_locale("zh_CN"):
            assert render_template_string(page) == "未找到。"
        assert render_template_string(page) == "Not found."
