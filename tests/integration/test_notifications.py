"""The notification inbox: API and page, unread counts, marking read, one person's rows only."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models import Notification
from services import notifications
from tests.integration.conftest import login

EN = {"Accept-Language": "en"}


@pytest.fixture
def provider(make_party):
    return make_party("provider")


def notify(app, party, count=1, event="certificate.suspended", link="/certificates/OPC-2026-000001"):
    with app.app_context():
        for n in range(count):
            notifications.notify([party.organization_id], event,
                                 {"number": f"OPC-2026-{n + 1:06d}", "outlet": "南山回收服务网点",
                                  "reason": "灭火器缺失", "expires": "2029-01-15"}, link=link)
        db.session.commit()


def ids_of(app, party) -> list[int]:
    with app.app_context():
        return [n.id for n in db.session.query(Notification).filter_by(user_id=party.user_id)
                .order_by(Notification.id)]


def test_the_inbox_lists_newest_first_rendered_with_unread_count(app, client, provider):
    notify(app, provider, count=3)
    response = client.get("/api/v1/notifications", headers={**provider.headers, **EN})
    assert response.status_code == 200
    body = response.json
    assert (body["total"], body["unread_count"]) == (3, 3)
    first = body["items"][0]
    assert first["params"]["number"] == "OPC-2026-000003"
    assert first["subject"] == "Certificate OPC-2026-000003 suspended"
    assert first["body"] == "The certificate of 南山回收服务网点 is suspended: 灭火器缺失"
    assert first["read"] is False and first["link"] == "/certificates/OPC-2026-000001"


def test_pages_and_the_unread_filter(app, client, provider):
    notify(app, provider, count=5)
    first_id = ids_of(app, provider)[0]
    client.post(f"/api/v1/notifications/{first_id}/read", headers=provider.headers)
    page = client.get("/api/v1/notifications", query_string={"per_page": 2, "page": 3},
                      headers=provider.headers).json
    assert (page["total"], len(page["items"]), page["items"][0]["id"]) == (5, 1, first_id)
    unread = client.get("/api/v1/notifications", query_string={"unread": "true"},
                        headers=provider.headers).json
    assert unread["total"] == 4 and first_id not in [i["id"] for i in unread["items"]]
    bad = client.get("/api/v1/notifications", query_string={"per_page": 0}, headers=provider.headers)
    assert bad.status_code == 422 and bad.json["error"]["fields"]


def test_mark_one_and_all_read(app, client, provider):
    notify(app, provider, count=3)
    one = ids_of(app, provider)[1]
    marked = client.post(f"/api/v1/notifications/{one}/read", headers=provider.headers)
    assert marked.status_code == 200 and marked.json == {"marked": 1, "unread_count": 2}
    again = client.post(f"/api/v1/notifications/{one}/read", headers=provider.headers)
    assert again.json == {"marked": 0, "unread_count": 2}
    everything = client.post("/api/v1/notifications/read-all", headers=provider.headers)
    assert everything.json == {"marked": 2, "unread_count": 0}


def test_nobody_reads_or_marks_anothers_notifications(app, client, provider, make_party):
    notify(app, provider)
    stranger = make_party("provider")
    theirs = ids_of(app, provider)[0]
    response = client.post(f"/api/v1/notifications/{theirs}/read", headers=stranger.headers)
    assert response.status_code == 404 and response.json["error"]["code"] == "not_found"
    assert client.get("/api/v1/notifications", headers=stranger.headers).json["total"] == 0
    assert client.post("/api/v1/notifications/read-all", headers=stranger.headers).json["marked"] == 0
    assert client.get("/api/v1/notifications", headers=provider.headers).json["unread_count"] == 1
    assert client.get("/api/v1/notifications").status_code == 401


def test_the_inbox_page_shows_unread_in_bold_and_marks_read(app, client, provider):
    notify(app, provider, count=2)
    login(client, provider.email)
    html = client.get("/notifications", headers=EN).get_data(as_text=True)
    assert html.count('class="unread"') == 2 and "Certificate OPC-2026-000002 suspended" in html
    from tests.conftest import csrf_token_from

    first, second = ids_of(app, provider)
    opened = client.post(f"/notifications/{first}/read",
                         data={"csrf_token": csrf_token_from(html), "next": "/certificates/OPC-2026-000001"})
    assert opened.status_code == 302 and opened.headers["Location"] == "/certificates/OPC-2026-000001"
    html = client.get("/notifications", headers=EN).get_data(as_text=True)
    assert html.count('class="unread"') == 1 and html.count('class="read"') == 1
    # the unread one comes first
    assert html.index(f'data-id="{second}"') < html.index(f'data-id="{first}"')
    elsewhere = client.post(f"/notifications/{second}/read",
                            data={"csrf_token": csrf_token_from(html), "next": "https://evil.example/"})
    assert elsewhere.headers["Location"] == "/notifications"
    notify(app, provider, count=1)
    client.post("/notifications/read-all", data={"csrf_token": csrf_token_from(html)})
    assert 'class="unread"' not in client.get("/notifications").get_data(as_text=True)


def test_the_page_refuses_a_post_without_the_csrf_token(app, client, provider):
    notify(app, provider)
    login(client, provider.email)
    assert client.post("/notifications/read-all").status_code == 400


def test_the_unread_count_helper_for_the_nav(app, client, provider):
    from app.web.notifications import inject_unread_notifications

    notify(app, provider, count=2)
    with app.test_request_context():
        assert inject_unread_notifications()["unread_notifications"]() == 0  # anonymous
    login(client, provider.email)
    with client:
        client.get("/notifications")
        assert inject_unread_notifications()["unread_notifications"]() == 2


def test_the_navigation_badge_comes_with_the_user_in_one_statement(app, client, provider):
    from sqlalchemy import event

    login(client, provider.email)
    assert 'data-testid="unread-count"' not in client.get("/pool", headers=EN).get_data(as_text=True)
    notify(app, provider, count=3)
    seen: list[str] = []
    with app.app_context():
        engine = db.engine
    record = lambda *args: seen.append(args[2].lower())  # noqa: E731
    event.listen(engine, "before_cursor_execute", record)
    try:
        html = client.get("/pool", headers=EN).get_data(as_text=True)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert '<span class="badge badge-unread" data-testid="unread-count">3</span>' in html
    assert sum("from notifications" in s for s in seen) == 1
    assert any("from notifications" in s and "from users" in s for s in seen)
