"""A deterministic national demo pool calibrated to the survey (Sept 2022 figures).

`plan()` is pure: from a seed, an outlet count, the division index and the checklist items it
returns every organization, outlet, assessment and offer as plain values, so the calibration is
testable without a database. `seed()` writes a plan in bulk (a few INSERT ... RETURNING
statements) and is idempotent: organizations whose credit code carries the demo marker
(characters 9-10 = "DP") mean the pool exists, and nothing is done.

Calibration at the full size (10,257 outlets), exact where the survey gives a count:
- 31 provinces, 326 prefecture-level regions; Guangdong 1,062; top 10 provinces 6,116.
- 2,566 outlets jointly built (co_built); about 12 % authorized; the rest self-built.
- 152 manufacturers (provider_type "manufacturer") and 32 utilization firms, plus the demo
  provider login's organization; the top 20 firms hold 8,811 outlets.
- 25 % compliant (2,564). The survey's category failure shares (79 / 83 / 58 %) cannot hold
  over all outlets if 25 % are compliant (79 % failing one category caps compliance at 21 %),
  so they are applied among the non-compliant outlets: 79 % of those fail the working
  environment, 83 % the facilities, 58 % the systems and processes; every non-compliant
  outlet fails at least one. Co-built outlets are somewhat likelier to comply, as the survey
  observes. The statistics page shows both readings.
- Compliant outlets are listed (their providers are verified); about 40 % of them offer
  capacity. The rest stay drafts. Every outlet has one complete self-assessment.
Smaller counts (tests) scale every figure with the largest-remainder method.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, insert, select

from app.extensions import db
from app.models import (
    Assessment,
    CapacityOffer,
    Establishment,
    Organization,
    OrgKind,
    Outlet,
    OutletStatus,
    OutletType,
    ProviderType,
    VerificationStatus,
)
from services import audit, checklist, credit_code, divisions
from services.assessments import evaluate
from services.audit import Actor
from services.outlets import search_text_for

FULL_SIZE = 10257
DEFAULT_SEED = 2022
MARKER = "DP"  # characters 9-10 of every demo-pool credit code
DEMO_PROVIDER_NAME = "绿源电池综合利用有限公司"  # the provider@outletpool.demo login's organization

# Outlets per province at the full size: Guangdong 1,062 and the top ten 6,116 as surveyed;
# the other provinces are plausible guesses (the survey prints them only as a chart).
PROVINCE_COUNTS = {
    "440000": 1062, "330000": 770, "320000": 705, "370000": 640, "410000": 560,
    "510000": 520, "130000": 490, "420000": 470, "430000": 460, "340000": 439,
    "350000": 430, "310000": 420, "110000": 400, "450000": 320, "360000": 300,
    "610000": 290, "500000": 290, "530000": 260, "210000": 240, "140000": 200,
    "120000": 190, "520000": 170, "230000": 120, "220000": 110, "150000": 100,
    "650000": 90, "460000": 85, "620000": 70, "640000": 30, "630000": 18, "540000": 8,
}
COVERED_PREFECTURES = 326
TOP20_OUTLETS = 8811
CO_BUILT_OUTLETS = 2566
AUTHORIZED_SHARE = 0.12
COMPLIANT_SHARE = 0.25
CATEGORY_FAIL_SHARE_NONCOMPLIANT = {"working_environment": 0.79, "facilities": 0.83,
                                    "systems_processes": 0.58}
MANUFACTURERS, UTILIZATION_FIRMS = 152, 32
TOP20_UTILIZATION_RANKS = (7, 15)  # two utilization firms among the top 20 (1-based ranks)
DEMO_PROVIDER_OUTLETS = 12
DEMO_PROVIDER_PROVINCES = ("430000", "420000", "440000")
OFFER_SHARE = 0.4
JITTER_KM = 3.0

# Where more outlets sit than the city count alone suggests (NEV sales centres).
CITY_WEIGHTS = {
    "440300": 4.0, "440100": 4.0, "440600": 2.5, "441900": 2.0, "320500": 2.5, "320100": 3.0,
    "330100": 3.5, "330200": 2.2, "370200": 2.0, "370100": 3.0, "410100": 3.5, "510100": 4.0,
    "420100": 3.5, "430100": 3.5, "340100": 3.0, "350200": 2.0, "350100": 2.5, "210200": 2.0,
    "130100": 3.0, "610100": 3.5, "450200": 2.0, "530100": 3.5, "320200": 1.8, "330300": 1.6,
}
# Manufacturers' head offices: the car-making cities.
AUTO_CITIES = ("310100", "440300", "440100", "500100", "220100", "340100", "330100", "330200",
               "110100", "120100", "420100", "610100", "450200", "420300", "340200", "320100",
               "320400", "410100", "510100", "370100", "350100", "360100", "430100", "130600")

BRAND_FIRST = "华远晟澜嘉瑞鸿博凯锦泓晨朗骐昊钧翔璟沐耀卓弘霆昱"
BRAND_SECOND = "驰途骋跃擎锐航逸迅骏鑫拓行翼腾越达动程晖"
PINYIN = {
    "华": "Hua", "远": "Yuan", "晟": "Sheng", "澜": "Lan", "嘉": "Jia", "瑞": "Rui", "鸿": "Hong",
    "博": "Bo", "凯": "Kai", "锦": "Jin", "泓": "Hong", "晨": "Chen", "朗": "Lang", "骐": "Qi",
    "昊": "Hao", "钧": "Jun", "翔": "Xiang", "璟": "Jing", "沐": "Mu", "耀": "Yao", "卓": "Zhuo",
    "弘": "Hong", "霆": "Ting", "昱": "Yu", "驰": "chi", "途": "tu", "骋": "cheng", "跃": "yue",
    "擎": "qing", "锐": "rui", "航": "hang", "逸": "yi", "迅": "xun", "骏": "jun", "鑫": "xin",
    "拓": "tuo", "行": "xing", "翼": "yi", "腾": "teng", "越": "yue", "达": "da", "动": "dong",
    "程": "cheng", "晖": "hui",
}
# Real brands are kept out so no actual company appears with invented compliance results.
REAL_BRANDS = {"远程", "华晨", "瑞驰", "华骐", "远航", "晨达"}
MAKER_FORMS = (("汽车有限公司", "Automobile Co., Ltd."),
               ("新能源汽车有限公司", "New Energy Vehicle Co., Ltd."),
               ("汽车股份有限公司", "Automobile Co., Ltd."),
               ("汽车集团有限公司", "Automobile Group Co., Ltd."))
RECYCLER_FORMS = (("电池循环科技有限公司", "Battery Cycle Technology Co., Ltd."),
                  ("资源再生科技有限公司", "Resource Recycling Technology Co., Ltd."),
                  ("新能源材料有限公司", "New Energy Materials Co., Ltd."),
                  ("动力电池回收利用有限公司", "Traction Battery Recycling Co., Ltd."))
STREETS = ("人民路", "解放路", "建设路", "新华路", "胜利路", "友谊路", "工业大道", "汽车城路", "科技路",
           "创业路", "迎宾大道", "滨河路", "学府路", "光明路", "幸福路", "振兴路", "发展大道", "文化路",
           "团结路", "兴业路", "复兴路", "育才路", "环城东路", "环城西路", "站前路", "车城大道")
DEALER_SUFFIXES = ("4S店回收服务网点", "4S店回收服务网点", "4S店回收服务网点", "售后服务中心回收服务网点",
                   "授权服务站回收服务网点")
DEALER_WORDS = ("恒通", "宏达", "盛世", "通达", "永安", "和信", "嘉禾", "鑫源", "金诚", "广源")
SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩"
            "冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈")
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红鹏飞斌宇浩凯健俊帆帅旭宁琳"


@dataclass
class ProviderPlan:
    key: int
    provider_type: str  # manufacturer | utilization | demo (the existing demo provider)
    legal_name: str
    english_name: str
    brand: str
    hq_code: str = ""
    address: str = ""
    credit_code: str = ""
    contact_name: str = ""
    contact_phone: str = ""
    outlets: int = 0


@dataclass
class OutletPlan:
    provider: int  # ProviderPlan.key
    name: str
    address: str
    province_code: str
    city_code: str
    district_code: str | None
    lat: float
    lon: float
    type: str
    storage_area_m2: float
    max_stored_weight_t: float
    annual_capacity_t: float
    establishment: str
    established_with: str | None
    contact_name: str
    contact_phone: str
    compliant: bool
    answers: dict
    category_results: dict
    created_at: datetime
    completed_at: datetime
    offer: dict | None = None


@dataclass
class Plan:
    seed: int
    providers: list[ProviderPlan]
    outlets: list[OutletPlan]
    covered_prefectures: int = 0

    def figures(self) -> dict:
        """The calibration figures of this plan (what the statistics page should show)."""
        total = len(self.outlets)
        by_province: dict[str, int] = {}
        by_provider: dict[int, int] = {}
        for o in self.outlets:
            by_province[o.province_code] = by_province.get(o.province_code, 0) + 1
            by_provider[o.provider] = by_provider.get(o.provider, 0) + 1
        ranked = sorted(by_province.values(), reverse=True)
        firms = sorted(by_provider.values(), reverse=True)
        compliant = sum(o.compliant for o in self.outlets)
        non_compliant = total - compliant
        failing = {c: sum(1 for o in self.outlets if not o.compliant and o.category_results[c]["failed"])
                   for c in CATEGORY_FAIL_SHARE_NONCOMPLIANT}
        return {
            "outlets": total,
            "provinces": len(by_province),
            "prefecture_regions": len({o.city_code for o in self.outlets}),
            "guangdong": by_province.get("440000", 0),
            "top10_provinces": sum(ranked[:10]),
            "co_built": sum(o.establishment == "co_built" for o in self.outlets),
            "manufacturers": sum(p.provider_type == "manufacturer" for p in self.providers),
            "utilization_firms": sum(p.provider_type in ("utilization", "demo") for p in self.providers),
            "top20_firms": sum(firms[:20]),
            "compliant": compliant,
            "listed": compliant,
            "offers": sum(o.offer is not None for o in self.outlets),
            "category_failing_noncompliant": {c: round(n / non_compliant, 4) if non_compliant else 0
                                              for c, n in failing.items()},
        }


# --- pure helpers -------------------------------------------------------------------------

def largest_remainder(total: int, weights: list[float]) -> list[int]:
    """Integers proportional to `weights` that sum exactly to `total`."""
    whole = sum(weights)
    if total <= 0 or whole <= 0:
        return [0] * len(weights)
    quotas = [total * w / whole for w in weights]
    parts = [math.floor(q) for q in quotas]
    order = sorted(range(len(weights)), key=lambda i: (-(quotas[i] - parts[i]), i))
    for i in order[:total - sum(parts)]:
        parts[i] += 1
    return parts


def _scaled(full_value: int, n: int) -> int:
    return round(full_value * n / FULL_SIZE)


def _province_counts(n: int) -> dict[str, int]:
    codes = list(PROVINCE_COUNTS)
    counts = dict(zip(codes, largest_remainder(n, [PROVINCE_COUNTS[c] for c in codes]), strict=True))
    if n >= len(codes):  # every province keeps at least one outlet
        for code in codes:
            while counts[code] == 0:
                donor = max(counts, key=counts.get)
                counts[donor] -= 1
                counts[code] += 1
    return counts


def _prefecture_weight(ref, rng: random.Random) -> float:
    if ref.code in CITY_WEIGHTS:
        return CITY_WEIGHTS[ref.code]
    if ref.code == "460300":  # Sansha: islands, no dealers
        return 0.01
    if ref.code[2:4] == "90":  # county-level units administered by the province
        return 0.15
    if ref.name.endswith(("州", "地区", "盟", "林区")):
        return 0.5 * rng.uniform(0.6, 1.4)
    if ref.code[2:6] == "0100":  # the provincial capital
        return 3.0
    return rng.uniform(0.6, 1.4)


def _places(index, n: int, rng: random.Random) -> tuple[list[tuple], int]:
    """One (province, prefecture, district) slot per outlet, and the prefectures covered."""
    prefectures: dict[str, list] = {}
    districts: dict[str, list] = {}
    for ref in sorted(index.by_code.values(), key=lambda r: r.code):
        if ref.level == "prefecture":
            prefectures.setdefault(ref.province_code, []).append(ref)
        elif ref.level == "district" and ref.prefecture_code:
            districts.setdefault(ref.prefecture_code, []).append(ref)
    weights = {ref.code: _prefecture_weight(ref, rng)
               for refs in prefectures.values() for ref in refs}
    everyone = sorted(weights, key=lambda c: (weights[c], c))
    candidates = set(everyone[max(0, len(everyone) - COVERED_PREFECTURES):])
    slots = []
    covered = 0
    for province, count in _province_counts(n).items():
        refs = sorted((r for r in prefectures.get(province, []) if r.code in candidates),
                      key=lambda r: (-weights[r.code], r.code))[:count]
        if not refs or not count:
            continue
        covered += len(refs)
        extra = largest_remainder(count - len(refs), [weights[r.code] for r in refs])
        for ref, more in zip(refs, extra, strict=True):
            choices = districts.get(ref.code, [])
            district_weights = [3.0 if d.name.endswith("区") else 1.0 for d in choices]
            for _ in range(1 + more):
                district = rng.choices(choices, district_weights)[0] if choices else None
                slots.append((index.get(province), ref, district))
    return slots, covered


def _jitter(lat: float, lon: float, rng: random.Random) -> tuple[float, float]:
    """A point within JITTER_KM of (lat, lon), uniform over the disc."""
    radius = JITTER_KM * math.sqrt(rng.random())
    angle = rng.random() * 2 * math.pi
    dlat = radius * math.cos(angle) / 111.0
    dlon = radius * math.sin(angle) / (111.0 * max(0.2, math.cos(math.radians(lat))))
    return round(lat + dlat, 6), round(lon + dlon, 6)


def _brands(rng: random.Random, count: int) -> list[str]:
    pairs = [a + b for a in BRAND_FIRST for b in BRAND_SECOND if a + b not in REAL_BRANDS]
    rng.shuffle(pairs)
    return pairs[:count]


def _person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def _mobile(rng: random.Random) -> str:
    return f"1{rng.choice('3589')}{rng.randint(0, 9)}{rng.randint(0, 99999999):08d}"


def _street_address(province, prefecture, district, rng: random.Random) -> str:
    parts = [province.name]
    if prefecture.name != province.name:
        parts.append(prefecture.name)
    if district is not None:
        parts.append(district.name)
    parts.append(f"{rng.choice(STREETS)}{rng.randint(1, 999)}号")
    return "".join(parts)


def _providers(rng: random.Random, n: int, index) -> list[ProviderPlan]:
    brands = _brands(rng, MANUFACTURERS + UTILIZATION_FIRMS)
    makers = brands[:MANUFACTURERS]
    recyclers = brands[MANUFACTURERS:]
    top_kinds = ["utilization" if rank in TOP20_UTILIZATION_RANKS else "manufacturer"
                 for rank in range(1, 21)]
    rest_kinds = (["manufacturer"] * (MANUFACTURERS - top_kinds.count("manufacturer"))
                  + ["utilization"] * (UTILIZATION_FIRMS - top_kinds.count("utilization")))
    rng.shuffle(rest_kinds)
    demo_outlets = min(DEMO_PROVIDER_OUTLETS, max(4, _scaled(DEMO_PROVIDER_OUTLETS, n)))
    top_total = _scaled(TOP20_OUTLETS, n)
    top_counts = largest_remainder(top_total, [k ** -0.6 for k in range(1, 21)])
    rest_counts = largest_remainder(n - top_total - demo_outlets,
                                    [(k + 8) ** -1.1 for k in range(1, len(rest_kinds) + 1)])
    providers = []
    maker_iter, recycler_iter = iter(makers), iter(recyclers)
    prefecture_codes = sorted(r.code for r in index.by_code.values()
                              if r.level == "prefecture" and r.code[2:4] != "90")
    for key, (kind, count) in enumerate(zip(top_kinds + rest_kinds, top_counts + rest_counts,
                                            strict=True), start=1):
        brand = next(maker_iter) if kind == "manufacturer" else next(recycler_iter)
        form_zh, form_en = rng.choice(MAKER_FORMS if kind == "manufacturer" else RECYCLER_FORMS)
        english = PINYIN[brand[0]] + PINYIN[brand[1]]
        hq = rng.choice(AUTO_CITIES) if kind == "manufacturer" else rng.choice(prefecture_codes)
        providers.append(ProviderPlan(key, kind, brand + form_zh, f"{english} {form_en}", brand,
                                      hq_code=hq, outlets=count))
    providers.append(ProviderPlan(0, "demo", DEMO_PROVIDER_NAME, "", "绿源", outlets=demo_outlets))
    for sequence, provider in enumerate(providers, start=1):
        if provider.provider_type == "demo":
            continue
        hq = index.get(provider.hq_code)
        province = index.get(hq.province_code)
        provider.address = _street_address(province, hq, None, rng)
        provider.credit_code = credit_code.make(f"91{hq.code}{MARKER}{sequence:07d}")
        provider.contact_name = _person(rng)
        provider.contact_phone = _mobile(rng)
    return providers


def _failures(rng: random.Random, count: int) -> list[set[str]]:
    """Failed categories for `count` non-compliant outlets: each fails at least one, and
    each category is failed by its calibrated share of them."""
    failing = [set() for _ in range(count)]
    for code, share in CATEGORY_FAIL_SHARE_NONCOMPLIANT.items():
        for i in rng.sample(range(count), round(share * count)):
            failing[i].add(code)
    # Move a failure from an outlet failing several categories to each one failing none.
    donors = [i for i in range(count) if len(failing[i]) >= 2]
    rng.shuffle(donors)
    for i in range(count):
        while not failing[i]:
            donor = donors.pop()
            if len(failing[donor]) < 2:
                continue
            code = rng.choice(sorted(failing[donor]))
            failing[donor].discard(code)
            failing[i].add(code)
            if len(failing[donor]) >= 2:
                donors.insert(0, donor)
    return failing


def _answers(items: list[dict], failing: set[str], outlet_type: str,
             rng: random.Random) -> dict:
    by_category: dict[str, list[int]] = {}
    for item in items:
        by_category.setdefault(item["category"], []).append(item["number"])
    answers = {}
    for category, numbers in by_category.items():
        failed = set()
        if category in failing:
            k = min(len(numbers), 1 + min(3, int(rng.expovariate(1.0))))
            failed = set(rng.sample(numbers, k))
        for number in numbers:
            if number in failed:
                result = "fail"
            elif outlet_type == "collection" and number in (12, 14) and rng.random() < 0.15:
                result = "na"  # no Class B/C batteries accepted: brine tank, explosion-proof tank
            else:
                result = "pass"
            answers[str(number)] = {"result": result, "note": ""}
    return answers


def _dt(day: date, rng: random.Random) -> datetime:
    return datetime(day.year, day.month, day.day, 1 + rng.randint(0, 10), rng.randint(0, 59),
                    tzinfo=UTC)


def plan(seed: int, n: int, index, items: list[dict]) -> Plan:
    """The whole demo pool as plain values. `items`: checklist items {"number", "category"}."""
    if n < len(PROVINCE_COUNTS):
        raise ValueError(f"the demo pool needs at least {len(PROVINCE_COUNTS)} outlets")
    rng = random.Random(seed)  # noqa: S311 - demo data, reproducible on purpose
    slots, covered = _places(index, n, rng)
    providers = _providers(rng, n, index)
    by_key = {p.key: p for p in providers}

    # Owners: the demo provider near home, everyone else anywhere (shuffled).
    order = list(range(len(slots)))
    rng.shuffle(order)
    demo = by_key[0]
    home = {code: [i for i in order if slots[i][0].code == code] for code in DEMO_PROVIDER_PROVINCES}
    demo_slots = [home[DEMO_PROVIDER_PROVINCES[k % len(home)]][k // len(home)]
                  for k in range(demo.outlets)]
    taken = set(demo_slots)
    rest = [i for i in order if i not in taken]
    owner = dict.fromkeys(demo_slots, 0)
    position = 0
    for provider in providers:
        if provider.key == 0:
            continue
        for i in rest[position:position + provider.outlets]:
            owner[i] = provider.key
        position += provider.outlets

    # How each outlet was established.
    others = [i for i in range(len(slots)) if owner[i] != 0]
    co_built = set(rng.sample(others, min(len(others), _scaled(CO_BUILT_OUTLETS, n))))
    remaining = [i for i in others if i not in co_built]
    authorized = set(rng.sample(remaining, min(len(remaining), round(AUTHORIZED_SHARE * n))))
    makers = [p for p in providers if p.provider_type == "manufacturer"]

    # Who complies: exactly the calibrated number; co-built likelier, half the demo
    # provider's outlets (so its login has listed outlets to show).
    compliant_count = round(COMPLIANT_SHARE * n)
    score = {}
    for i in range(len(slots)):
        score[i] = rng.random() * (0.7 if i in co_built else 1.0)
    for i in demo_slots[: (len(demo_slots) + 1) // 2]:
        score[i] = -1.0
    for i in demo_slots[(len(demo_slots) + 1) // 2:]:
        score[i] = 2.0
    compliant = set(sorted(score, key=lambda i: (score[i], i))[:compliant_count])
    non_compliant = [i for i in range(len(slots)) if i not in compliant]
    failures = dict(zip(non_compliant, _failures(rng, len(non_compliant)), strict=True))

    outlets = []
    names_used: dict[tuple[int, str], int] = {}
    for i, (province, prefecture, district) in enumerate(slots):
        provider = by_key[owner[i]]
        kind = provider.provider_type
        centralized = rng.random() < {"manufacturer": 0.05, "utilization": 0.4, "demo": 0.2}[kind]
        outlet_type = "centralized_storage" if centralized else "collection"
        if centralized:
            area, weight = float(rng.randint(150, 2000)), float(rng.randint(30, 500))
            capacity = float(rng.randint(5, 100) * 100)
        else:
            area, weight = float(rng.randint(12, 80)), float(rng.randint(2, 10) / 2)
            capacity = float(rng.randint(2, 30) * 10)
        city_short = prefecture.short_name or prefecture.name
        area_name = ((district.short_name or district.name) if district is not None
                     else rng.choice(DEALER_WORDS))
        if area_name == city_short:  # 荆州市荆州区: not "荆州荆州"
            area_name = rng.choice(DEALER_WORDS)
        if centralized:
            name = f"{provider.brand}{city_short}集中贮存型回收服务网点"
        elif kind == "manufacturer":
            name = f"{provider.brand}{city_short}{area_name}{rng.choice(DEALER_SUFFIXES)}"
        else:
            name = f"{provider.brand}{city_short}{area_name}回收服务网点"
        seen = names_used.get((provider.key, name), 0)
        names_used[(provider.key, name)] = seen + 1
        if seen:
            name = name.replace("回收服务网点", f"{seen + 1}号回收服务网点")
        if i in co_built:
            partner = rng.choice([m for m in makers[:40] if m.key != provider.key])
            establishment, established_with = "co_built", partner.legal_name
        elif i in authorized:
            establishment = "authorized"
            established_with = f"{city_short}{rng.choice(DEALER_WORDS)}汽车销售服务有限公司"
        else:
            establishment, established_with = "self_built", None
        base = district if district is not None and district.lat is not None else prefecture
        lat, lon = _jitter(base.lat, base.lon, rng)
        is_compliant = i in compliant
        answers = _answers(items, set() if is_compliant else failures[i], outlet_type, rng)
        passed, category_results = evaluate(items, answers)
        assert passed == is_compliant
        completed = _dt(date(2022, 6, 1) + timedelta(days=rng.randint(0, 120)), rng)
        created = _dt(date(2019, 10, 1) + timedelta(days=rng.randint(0, 960)), rng)
        offer = None
        if is_compliant and (kind == "demo" or rng.random() < OFFER_SHARE):
            offer = {
                "capacity_t_per_year": round(capacity * rng.uniform(0.3, 0.8), 1),
                "annual_fee_fen": rng.randint(80, 300 if not centralized else 1200) * 100 * 100,
                "handling_fee_fen_per_t": rng.randint(20, 120 if not centralized else 80) * 10 * 100,
                "min_term_months": rng.choice((12, 12, 24, 36)),
                "available_from": date(2022, 10, 1),
            }
        outlets.append(OutletPlan(
            provider=provider.key, name=name,
            address=_street_address(province, prefecture, district, rng),
            province_code=province.code, city_code=prefecture.code,
            district_code=district.code if district is not None else None, lat=lat, lon=lon,
            type=outlet_type, storage_area_m2=area, max_stored_weight_t=weight,
            annual_capacity_t=capacity, establishment=establishment,
            established_with=established_with, contact_name=_person(rng),
            contact_phone=_mobile(rng), compliant=is_compliant, answers=answers,
            category_results=category_results, created_at=created, completed_at=completed,
            offer=offer))
    return Plan(seed, providers, outlets, covered)


# --- writing ------------------------------------------------------------------------------

@dataclass
class SeedReport:
    skipped: bool
    organizations: int = 0
    outlets: int = 0
    listed: int = 0
    offers: int = 0
    figures: dict = field(default_factory=dict)


def demo_organizations() -> int:
    """How many demo-pool organizations exist (the idempotency marker)."""
    return db.session.execute(
        select(func.count(Organization.id))
        .where(Organization.credit_code.like(f"91______{MARKER}%"))).scalar_one()


def seed(seed: int = DEFAULT_SEED, outlets: int = FULL_SIZE, *,
         actor: Actor | None = None) -> SeedReport:
    """Write the demo pool in bulk unless it is already there. Flushes; the caller commits."""
    if demo_organizations():
        return SeedReport(skipped=True)
    demo_provider = _demo_provider()
    version = checklist.current_version()
    items = [{"number": i.number, "category": i.category} for i in checklist.items(version)]
    the_plan = plan(seed, outlets, divisions.index(), items)
    now = datetime.now(UTC)

    generated = [p for p in the_plan.providers if p.provider_type != "demo"]
    org_rows = [{
        "kind": OrgKind.PROVIDER,
        "provider_type": ProviderType.MANUFACTURER if p.provider_type == "manufacturer"
        else ProviderType.UTILIZATION,
        "legal_name": p.legal_name, "english_name": p.english_name, "credit_code": p.credit_code,
        "address": p.address, "division_code": p.hq_code, "contact_name": p.contact_name,
        "contact_phone": p.contact_phone, "contact_email": None,
        "verification_status": VerificationStatus.VERIFIED, "verification_reason": None,
        "verified_at": now, "created_at": now,
    } for p in generated]
    ids = db.session.execute(
        insert(Organization).returning(Organization.id, sort_by_parameter_order=True), org_rows
    ).scalars().all()
    org_id = {p.key: i for p, i in zip(generated, ids, strict=True)}
    org_id[0] = demo_provider.id
    org_name = {p.key: p.legal_name for p in the_plan.providers}

    outlet_rows = []
    for o in the_plan.outlets:
        listed = o.compliant
        outlet_rows.append({
            "provider_id": org_id[o.provider], "name": o.name, "address": o.address,
            "province_code": o.province_code, "city_code": o.city_code,
            "district_code": o.district_code, "lat": o.lat, "lon": o.lon,
            "type": OutletType(o.type), "storage_area_m2": o.storage_area_m2,
            "max_stored_weight_t": o.max_stored_weight_t, "annual_capacity_t": o.annual_capacity_t,
            "chemistries": ["LFP", "NCM"], "safety_classes": ["A", "B", "C"] if o.type ==
            "centralized_storage" else ["A", "B"],
            "facilities": None, "opening_hours": "周一至周六 9:00-17:30",
            "contact_name": o.contact_name, "contact_phone": o.contact_phone,
            "establishment": Establishment(o.establishment), "established_with": o.established_with,
            "status": OutletStatus.LISTED if listed else OutletStatus.DRAFT, "import_key": None,
            "compliant": o.compliant, "certified": False,
            "available_capacity_t": o.offer["capacity_t_per_year"] if o.offer else None,
            "annual_fee_fen": o.offer["annual_fee_fen"] if o.offer else None,
            "handling_fee_fen_per_t": o.offer["handling_fee_fen_per_t"] if o.offer else None,
            "search_text": search_text_for(o, org_name[o.provider]),
            "created_at": o.created_at, "updated_at": o.completed_at,
            "listed_at": o.completed_at + timedelta(days=3) if listed else None,
        })
    outlet_ids = []
    for start in range(0, len(outlet_rows), 2000):
        outlet_ids.extend(db.session.execute(
            insert(Outlet).returning(Outlet.id, sort_by_parameter_order=True),
            outlet_rows[start:start + 2000]).scalars().all())

    assessment_rows, offer_rows = [], []
    for outlet_id, o in zip(outlet_ids, the_plan.outlets, strict=True):
        assessment_rows.append({
            "outlet_id": outlet_id, "version": 1, "checklist_version": version,
            "answers": o.answers, "completed_at": o.completed_at, "passed": o.compliant,
            "category_results": o.category_results, "created_by_id": None,
            "created_at": o.completed_at - timedelta(days=1),
        })
        if o.offer:
            offer_rows.append({"outlet_id": outlet_id, **o.offer, "available_to": None,
                               "created_at": o.completed_at, "updated_at": o.completed_at})
    for start in range(0, len(assessment_rows), 2000):
        db.session.execute(insert(Assessment), assessment_rows[start:start + 2000])
    if offer_rows:
        db.session.execute(insert(CapacityOffer), offer_rows)
    db.session.flush()

    figures = the_plan.figures()
    report = SeedReport(False, len(org_rows), len(outlet_rows), figures["listed"], len(offer_rows),
                        figures)
    audit.record(actor or Actor(label="cli:seed-demo"), "demo.pool_seeded", "organization", None,
                 data={"seed": seed, "outlets": report.outlets,
                       "organizations": report.organizations, "listed": report.listed,
                       "offers": report.offers})
    return report


def _demo_provider() -> Organization:
    """The demo provider login's organization, creating the demo logins if need be."""
    from services import demo

    def find():
        return db.session.execute(
            select(Organization).where(Organization.legal_name == DEMO_PROVIDER_NAME)
        ).unique().scalar_one_or_none()

    organization = find()
    if organization is None:
        demo.create_demo_accounts()
        organization = find()
    return organization
