"""accounts data version: signed-in users and API tokens are cached like the pool

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 08:00:00

"""
import secrets

from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    versions = sa.table('data_versions', sa.column('scope', sa.String), sa.column('token', sa.BigInteger))
    op.bulk_insert(versions, [{'scope': 'accounts', 'token': secrets.randbits(62)}])


def downgrade():
    op.execute("DELETE FROM data_versions WHERE scope = 'accounts'")
