"""contracts data version: where each maker stands at each outlet is cached like the pool

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 11:00:00

"""
import secrets

from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    versions = sa.table('data_versions', sa.column('scope', sa.String), sa.column('token', sa.BigInteger))
    op.bulk_insert(versions, [{'scope': 'contracts', 'token': secrets.randbits(62)}])


def downgrade():
    op.execute("DELETE FROM data_versions WHERE scope = 'contracts'")
