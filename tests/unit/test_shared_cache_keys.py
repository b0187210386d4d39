"""The shared cache's keys change with any code, template or catalog that makes the answers, so
two releases side by side never read each other's cached pages or results."""

from services.shared_cache import digest_of


def test_the_digest_follows_code_templates_and_catalogs_and_nothing_else(tmp_path):
    files = {"services/obligations.py": "X = 1\n", "app/web/pool.py": "Y = 1\n",
             "templates/pool/_detail_public.html": "<h1>{{ outlet.name }}</h1>\n",
             "app/translations/zh/LC_MESSAGES/messages.po": 'msgid "Compliance"\n',
             "README.md": "# notes\n"}
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    before = digest_of(tmp_path)
    (tmp_path / "README.md").write_text("# other notes\n")
    assert digest_of(tmp_path) == before
    seen = {before}
    for name in list(files)[:-1]:
        (tmp_path / name).write_text(files[name] + "# changed\n")
        seen.add(digest_of(tmp_path))
    assert len(seen) == 5
