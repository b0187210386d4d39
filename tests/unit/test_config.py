import importlib

import pytest

import config


def reload_with(monkeypatch, **env):
    for key in ("SECRET_KEY", "DATABASE_URL", "OUTLETPOOL_ALLOW_SQLITE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return importlib.reload(config)


def test_production_refuses_to_start_without_a_secret_key(monkeypatch):
    cfg = reload_with(monkeypatch, DATABASE_URL="postgresql://db/outletpool")
    with pytest.raises(cfg.ConfigurationError, match="SECRET_KEY"):
        cfg.config_for("production")


def test_production_refuses_sqlite_unless_told(monkeypatch):
    cfg = reload_with(monkeypatch, SECRET_KEY="s" * 32)
    with pytest.raises(cfg.ConfigurationError, match="SQLite"):
        cfg.config_for("production")
    cfg = reload_with(monkeypatch, SECRET_KEY="s" * 32, OUTLETPOOL_ALLOW_SQLITE="1")
    assert cfg.config_for("production").SESSION_COOKIE_SECURE


def test_development_keeps_a_generated_secret_under_instance(monkeypatch, tmp_path):
    monkeypatch.setenv("OUTLETPOOL_INSTANCE", str(tmp_path))
    cfg = reload_with(monkeypatch)
    first = cfg.config_for("development").SECRET_KEY
    cfg = reload_with(monkeypatch)
    assert first == cfg.config_for("development").SECRET_KEY
    assert (tmp_path / "secret_key").read_text().strip() == first


def test_postgres_urls_use_psycopg3():
    assert config.normalize_database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert config.normalize_database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert config.normalize_database_url("sqlite:///x.db") == "sqlite:///x.db"


@pytest.fixture(autouse=True)
def _restore_config(monkeypatch):
    yield
    monkeypatch.undo()
    importlib.reload(config)


@pytest.mark.parametrize(("url", "origin"), [
    ("", None),
    ("https://t{s}.tianditu.gov.cn/vec_w/wmts?x={x}&y={y}", "https://*.tianditu.gov.cn"),
    ("https://tile.example.org/{z}/{x}/{y}.png", "https://tile.example.org"),
])
def test_the_csp_admits_exactly_the_configured_tile_server(url, origin):
    from app.security import tile_server_origin

    assert tile_server_origin(url) == origin
