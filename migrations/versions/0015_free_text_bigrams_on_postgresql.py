"""free text across the pool on PostgreSQL: each outlet's text bigrams, generated and GIN-indexed

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-26 14:50:00

LIKE '%term%' over the whole pool reads every row (42 ms of PostgreSQL time at 100,000
outlets). Every two-character piece of a term is one of the text's, so a GIN index on the set
of the text's bigrams finds the candidates and LIKE confirms them. Bigrams, not pg_trgm's
trigrams: Chinese place and company names are often two characters (鞍山). PostgreSQL keeps
the column itself (GENERATED ... STORED), so no write path can forget it; the models do not
map it (app/models/outlet.py: DATABASE_MAINTAINED). SQLite keeps scanning.
"""
from alembic import op


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute("""
        CREATE FUNCTION text_bigrams(text) RETURNS text[]
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
          SELECT coalesce(array_agg(DISTINCT substr($1, i, 2)), '{}')
          FROM generate_series(1, length($1) - 1) AS i
        $$""")
    op.execute("ALTER TABLE outlets ADD COLUMN search_bigrams text[] "
               "GENERATED ALWAYS AS (text_bigrams(search_text)) STORED")
    op.execute("CREATE INDEX ix_outlets_search_bigrams ON outlets USING gin (search_bigrams)")


def downgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute("DROP INDEX ix_outlets_search_bigrams")
    op.execute("ALTER TABLE outlets DROP COLUMN search_bigrams")
    op.execute("DROP FUNCTION text_bigrams(text)")
