"""Golden tests of makers' outlet filings on the hand-built scenario (tests/integration/
filing_scenario.py): exactly the expected rows in every format, the checks' cover sheet, the
change filing after agreements are added and ended, the change-due notice, joint filings."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime

import pytest

from tests.integration import filing_scenario as fs
from tests.integration.conftest import PASSWORD

HEADERS = ["序号", "生产企业名称", "生产企业统一社会信用代码", "回收服务网点名称", "省份", "城市", "区（县）",
           "详细地址", "网点类型", "建设方式", "共建/授权单位名称", "共建/授权单位统一社会信用代码", "联系人",
           "联系电话", "贮存面积（平方米）", "贮存能力（吨）", "认证证书编号", "证书有效期至", "协议编号",
           "协议期限", "联合申报确认情况"]
UNCONFIRMED = "未确认（联合申报待各方确认）"


@pytest.fixture
def scenario(app, make_party):
    with app.app_context():
        yield fs.build(make_party)


@pytest.fixture
def built(app, make_party):
    """The scenario with API tokens, built and left: requests must not run inside the test's
    app context (Flask would reuse it, and flask-login's cached user with it)."""
    from app.extensions import db
    from app.models import User
    from services import accounts

    with app.app_context():
        sc = fs.build(make_party)
        for party in (sc.maker_a, sc.maker_b, sc.provider, sc.operator):
            party.token = accounts.create_token(db.session.get(User, party.user_id), "t")[1]
        db.session.commit()
    return sc


def org(party):
    from app.extensions import db
    from app.models import Organization

    return db.session.get(Organization, party.organization_id)


def agreement_number(agreement_id):
    from app.extensions import db
    from app.models import Agreement

    return db.session.get(Agreement, agreement_id).number


def expected_rows(sc, joint=None):
    """The four filed rows, in filing order (province, city code, district, name)."""
    joint = joint or {}
    a, p = org(sc.maker_a), org(sc.provider)
    term = "2026-12-01至2027-12-01"

    def row(n, key, name, city, district, type_, form, area, weight, cert=("", "")):
        return [n, a.legal_name, a.credit_code, name, "广东省", city, district, f"{name}路8号", type_, form,
                p.legal_name, p.credit_code, "王经理", "13800138000", area, weight, cert[0], cert[1],
                agreement_number(sc.agreements[key]), term, joint.get(key, UNCONFIRMED)]

    return [
        row(1, "gz", "广州天河贮存中心", "广州市", "天河区", "集中贮存型", "共建", 200, 40),
        row(2, "sz", "深圳南山回收点", "深圳市", "南山区", "收集型", "共建", 20, 5,
            ("OPC-2026-000001", "2029-01-09")),
        row(3, "fs", "佛山顺德授权网点", "佛山市", "顺德区", "收集型", "授权", 20, 5),
        row(4, "dg", "东莞长安共建网点", "东莞市", "", "收集型", "共建", 20, 5),
    ]


def generate(sc, party=None, when=fs.GENERATE_AT, as_of=fs.AS_OF):
    from app.extensions import db
    from services import filings

    party = party or sc.maker_a
    filing = filings.generate(fs.actor_for(party), org(party), as_of, now=when)
    db.session.commit()
    return filing


def files_of(filing):
    return {f.format: f for f in filing.files}


def test_golden_rows_in_every_format(scenario):
    import openpyxl
    import pypdf

    from services.filing_documents import sha256

    sc = scenario
    filing = generate(sc)
    expected = expected_rows(sc)
    assert (filing.version, filing.row_count, filing.flagged_count, filing.uncovered_count) == (1, 4, 2, 4)
    files = files_of(filing)
    assert sorted(files) == ["csv", "json", "pdf", "xlsx"]
    for file in files.values():
        assert file.sha256 == sha256(file.content) and file.size_bytes == len(file.content)

    # CSV: UTF-8 with BOM, the header and exactly the rows
    text = files["csv"].content.decode("utf-8")
    assert text.startswith("\ufeff")
    table = list(csv.reader(io.StringIO(text[1:])))
    assert table[0] == HEADERS
    assert table[1:] == [[str(v) for v in r] for r in expected]

    # XLSX: cover, the table (title, subtitle, frozen header) and the left-out sheet
    book = openpyxl.load_workbook(io.BytesIO(files["xlsx"].content))
    assert book.sheetnames == ["封面", "申报表", "未纳入申报的网点"]
    sheet = book["申报表"]
    assert sheet["A1"].value == "新能源汽车动力蓄电池回收服务网点信息申报表"
    assert sheet.freeze_panes == "A4"
    assert [c.value for c in sheet[3]] == HEADERS
    assert sheet.column_dimensions["H"].width == 40
    body = [[("" if c.value is None else c.value) for c in r] for r in sheet.iter_rows(min_row=4)]
    assert body == expected
    cover = "\n".join(" ".join(str(c.value) for c in r if c.value is not None)
                      for r in book["封面"].iter_rows())
    for city in ("广州市（440100）", "珠海市（440400）", "惠州市（441300）", "中山市（442000）"):
        assert city in cover
    assert "惠州惠城回收点（惠州市） 共建/授权协议已于2026-06-01终止" in cover
    assert "中山火炬回收点（中山市） 认证证书无效（暂停）" in cover
    left_out = [[c.value for c in r][:4] for r in book["未纳入申报的网点"].iter_rows(min_row=4)]
    assert [r[0] for r in left_out] == ["共建/授权协议已于2026-06-01终止", "认证证书无效（暂停）"]
    assert [r[3] for r in left_out] == ["惠州惠城回收点", "中山火炬回收点"]

    # PDF: the cover letter and the table; Chinese text extracts
    reader = pypdf.PdfReader(io.BytesIO(files["pdf"].content))
    pages = [p.extract_text() for p in reader.pages]
    assert "工业和信息化部节能与综合利用司" in pages[0] and "共4个网点" in pages[0]
    assert "认证证书无效（暂停）" in pages[0]
    table_text = "".join("".join(p.split()) for p in pages[1:])
    positions = [table_text.index(r[3]) for r in expected]
    assert positions == sorted(positions)
    assert "惠州惠城回收点" not in table_text and "中山火炬回收点" not in table_text
    assert table_text.count("未确认") == 4
    fonts = {str(f) for page in reader.pages
             for f in (page["/Resources"]["/Font"].get_object().values())}
    assert fonts  # fonts are embedded (the CJK subset)

    # JSON: the snapshot itself
    snapshot = json.loads(files["json"].content)
    assert [[r["values"][k] for k in ("row_number", "outlet_name")] for r in snapshot["rows"]] == \
        [[r[0], r[3]] for r in expected]
    assert [f["reasons"] for f in snapshot["flagged"]] == [["agreement_ended"], ["certificate_not_valid"]]


def test_change_filing_after_adding_and_ending_agreements(scenario):
    from app.extensions import db
    from app.models import FilingChangeDue, Notification, Outlet
    from services import agreements, filings, tick

    sc = scenario
    first = generate(sc)
    filings.mark_submitted(fs.actor_for(sc.maker_a), first.id, submitted_on="2026-12-16",
                           reference="MIIT-2026-0001", now=datetime(2026, 12, 16, 2, tzinfo=UTC))
    db.session.commit()
    assert tick.run(datetime(2026, 12, 17, 2, tzinfo=UTC))["filings.changes_due"] == 0

    later = datetime(2026, 12, 20, 2, tzinfo=UTC)
    zh = fs.make_outlet(sc.provider, "珠海香洲回收点", "440400", "440402")
    fs.contract(sc.maker_a, sc.provider, zh, now=later, start="2026-12-20")
    agreements.terminate(fs.actor_for(sc.operator), sc.agreements["fs"], "授权到期不再续签", now=later)
    db.session.get(Outlet, sc.outlets["sz"]).address = "深圳南山回收点路9号"
    db.session.commit()

    ran = tick.run(datetime(2026, 12, 21, 2, tzinfo=UTC))  # Monday 21 Dec
    db.session.commit()
    assert ran["filings.changes_due"] == 1
    due = db.session.execute(db.select(FilingChangeDue)).scalar_one()
    # 30 working days after Mon 21 Dec 2026: 1-3 Jan 2027 off (New Year, provisional calendar)
    assert due.due_on == date(2027, 2, 2)
    assert due.summary == {"added": 1, "removed": 1, "changed": 1}
    notice = db.session.execute(db.select(Notification).where(
        Notification.event == "filing.change_due")).scalars().first()
    assert notice.params["due_on"] == "2027-02-02"
    assert tick.run(datetime(2026, 12, 21, 3, tzinfo=UTC))["filings.changes_due"] == 0  # told once

    second = generate(sc, when=datetime(2026, 12, 22, 2, tzinfo=UTC), as_of=date(2026, 12, 22))
    changes = filings.change_filing(fs.actor_for(sc.maker_a), second.id)
    assert changes["base"]["version"] == 1
    assert [c["values"]["outlet_name"] for c in changes["added"]] == ["珠海香洲回收点"]
    assert [(c["values"]["outlet_name"], c["reason"]) for c in changes["removed"]] == \
        [("佛山顺德授权网点", "共建/授权协议已于2026-12-20终止")]
    assert changes["changed"] == [{"outlet_id": sc.outlets["sz"], "outlet_name": "深圳南山回收点",
                                   "fields": [{"key": "address", "header": "详细地址",
                                               "old": "深圳南山回收点路8号", "new": "深圳南山回收点路9号"}]}]
    filings.mark_submitted(fs.actor_for(sc.maker_a), second.id, submitted_on="2026-12-22",
                           reference="MIIT-2026-0002", now=datetime(2026, 12, 22, 3, tzinfo=UTC))
    db.session.commit()
    assert db.session.execute(db.select(FilingChangeDue)).scalar_one().resolved_at is not None


def test_unconfirmed_joint_filing_is_marked_until_every_party_confirms(scenario):
    from app.extensions import db
    from app.models import JointFiling
    from services import filings, joint_filings
    from services.errors import Conflict, ValidationFailed

    sc = scenario
    generate(sc)
    joint = db.session.execute(db.select(JointFiling).where(
        JointFiling.agreement_id == sc.agreements["dg"])).scalar_one()
    assert len(joint.party_ids) == 3
    listed = joint_filings.list_for(fs.actor_for(sc.provider), awaiting_only=True)
    assert len(listed) == 4 and all(j["awaiting_my_confirmation"] for j in listed)
    with pytest.raises(ValidationFailed):
        joint_filings.confirm(fs.actor_for(sc.maker_a), joint.id, password="wrong",
                              document_sha256=joint.document_sha256)
    db.session.rollback()
    with pytest.raises(Conflict):
        joint_filings.confirm(fs.actor_for(sc.maker_a), joint.id, password=PASSWORD,
                              document_sha256="0" * 64)
    db.session.rollback()
    for party in (sc.maker_a, sc.provider):
        joint_filings.confirm(fs.actor_for(party), joint.id, password=PASSWORD,
                              document_sha256=joint.document_sha256)
        db.session.commit()
    second = generate(sc)
    assert second.snapshot["rows"][3]["values"]["joint_confirmation"] == UNCONFIRMED  # B has not
    joint_filings.confirm(fs.actor_for(sc.maker_b), joint.id, password=PASSWORD,
                          document_sha256=joint.document_sha256)
    db.session.commit()
    third = generate(sc)
    assert [r["values"]["joint_confirmation"] for r in third.snapshot["rows"]] == \
        [UNCONFIRMED, UNCONFIRMED, UNCONFIRMED, "已确认"]
    assert third.unconfirmed_count == 3
    keys = [c["key"] for c in filings.layout()["columns"]]
    rows = [[r["values"][k] for k in keys] for r in third.snapshot["rows"]]
    assert rows == expected_rows(sc, {"dg": "已确认"})
    # B's own filing carries the outlet too, confirmed
    b_filing = generate(sc, party=sc.maker_b)
    assert [r["values"]["joint_confirmation"] for r in b_filing.snapshot["rows"]] == ["已确认"]


def test_api_generate_list_download_submit_and_changes(built, client):
    sc = built
    created = client.post("/api/v1/filings", json={"as_of": "2026-12-15"}, headers=sc.maker_a.headers)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["version"] == 1 and body["row_count"] == 4
    assert {f["format"] for f in body["files"]} == {"xlsx", "csv", "pdf", "json"}
    listed = client.get("/api/v1/filings", headers=sc.maker_a.headers).get_json()
    assert [f["id"] for f in listed["items"]] == [body["id"]]
    csv_file = client.get(f"/api/v1/filings/{body['id']}?format=csv", headers=sc.maker_a.headers)
    assert csv_file.status_code == 200 and csv_file.mimetype == "text/csv"
    stored = next(f["sha256"] for f in body["files"] if f["format"] == "csv")
    assert csv_file.headers["X-Content-SHA256"] == stored
    assert "attachment" in csv_file.headers["Content-Disposition"]
    # another maker cannot see it; a provider cannot generate
    assert client.get(f"/api/v1/filings/{body['id']}", headers=sc.maker_b.headers).status_code == 404
    assert client.post("/api/v1/filings", json={}, headers=sc.provider.headers).status_code == 403
    changes = client.get(f"/api/v1/filings/{body['id']}/changes", headers=sc.maker_a.headers).get_json()
    assert changes["base"] is None and changes["counts"] == {"added": 4, "removed": 0, "changed": 0}
    bad = client.post(f"/api/v1/filings/{body['id']}/submission", json={"submitted_on": "2999-01-01",
                                                                         "reference": "x"},
                      headers=sc.maker_a.headers)
    assert bad.status_code == 422 and "submitted_on" in bad.get_json()["error"]["fields"]
    joint = client.get("/api/v1/joint-filings?awaiting=1", headers=sc.provider.headers).get_json()
    assert len(joint["items"]) == 4
    one = joint["items"][0]
    confirmed = client.post(f"/api/v1/joint-filings/{one['id']}/confirmations",
                            json={"password": PASSWORD, "document_sha256": one["document_sha256"]},
                            headers=sc.provider.headers)
    assert confirmed.status_code == 201
    assert confirmed.get_json()["parties"][0]["confirmed"] is True


def test_operator_run_archive_and_public_list(built, client):
    import zipfile

    sc = built
    run = client.post("/api/v1/filing-runs", json={"as_of": "2026-12-15"}, headers=sc.operator.headers)
    assert run.status_code == 202, run.get_json()
    body = run.get_json()
    assert (body["status"], body["done"], body["total"], body["mode"]) == ("done", 2, 2, "inline")
    archive = client.get(f"/api/v1/filing-runs/{body['id']}/archive", headers=sc.operator.headers)
    names = zipfile.ZipFile(io.BytesIO(archive.data)).namelist()
    assert len(names) == 9 and "SHA256SUMS" in names
    public = client.get("/api/v1/public-disclosure?format=csv")
    rows = list(csv.reader(io.StringIO(public.data.decode("utf-8-sig"))))
    assert rows[0][:3] == ["序号", "企业名称", "省份"]
    # six listed outlets; Dongguan filed by two makers, Huizhou by nobody now (its provider)
    assert len(rows) - 1 == 7
    dongguan = [r[1] for r in rows[1:] if r[5] == "东莞长安共建网点"]
    assert sorted(dongguan) == sorted(["金标新能源汽车有限公司", "银河汽车股份有限公司"])


def test_background_run_with_redis(scenario, app):
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url("redis://127.0.0.1:6379/0").ping()
    except Exception:
        pytest.skip("no Redis on 127.0.0.1:6379")
    from app.extensions import db
    from app.models import FilingRun
    from services import filing_runs

    app.config["REDIS_URL"] = "redis://127.0.0.1:6379/0"
    try:
        run = filing_runs.start(fs.actor_for(scenario.operator), "2026-12-15", mode="queue")
        db.session.commit()
        filing_runs.run_in_background(app, run.id).join(timeout=60)
    finally:
        app.config["REDIS_URL"] = None
    db.session.expire_all()
    finished = db.session.get(FilingRun, run.id)
    assert (finished.status.value, finished.done, finished.total) == ("done", 2, 2)


def test_maker_pages_generate_submit_and_download(built, client):
    from tests.integration.conftest import form_post, login

    sc = built
    login(client, sc.maker_a.email)
    page = client.get("/filings")
    assert page.status_code == 200
    made = form_post(client, "/filings", {"as_of": "2026-12-15"})
    assert made.status_code == 302
    detail = client.get(made.headers["Location"])
    html = detail.get_data(as_text=True)
    assert "惠州惠城回收点" in html  # left out, with the reason
    download = client.get(made.headers["Location"] + "/download/xlsx")
    assert download.status_code == 200 and download.data[:2] == b"PK"
    from services.certifiers import china_today

    submitted = form_post(client, made.headers["Location"],
                          {"submitted_on": china_today().isoformat(), "reference": "MIIT-1"})
    assert submitted.status_code == 302
    assert "MIIT-1" in client.get(made.headers["Location"]).get_data(as_text=True)
    assert client.get("/filings/joint").status_code == 200
