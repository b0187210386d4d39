"""province text index carries the name, so text search within a province sorts without the table

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26 13:30:00

"""
from alembic import op


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index('ix_outlets_status_province_text', table_name='outlets')
    op.create_index('ix_outlets_status_province_text', 'outlets',
                    ['status', 'province_code', 'search_text', 'name', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_outlets_status_province_text', table_name='outlets')
    op.create_index('ix_outlets_status_province_text', 'outlets',
                    ['status', 'province_code', 'search_text', 'id'], unique=False)
