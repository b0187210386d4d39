"""data versions: a token per scope of tables, so processes can cache what they read from them

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25 23:10:00

"""
import secrets

from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    table = op.create_table(
        'data_versions',
        sa.Column('scope', sa.String(length=40), nullable=False),
        sa.Column('token', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('scope', name=op.f('pk_data_versions')),
    )
    op.bulk_insert(table, [{'scope': scope, 'token': secrets.randbits(62)}
                           for scope in ('pool', 'obligations')])


def downgrade():
    op.drop_table('data_versions')
