"""co-building opt-in and the last saving on the maker's dashboard

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 20:55:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cobuilding_opt_in', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('cobuilding_saving', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_column('cobuilding_saving')
        batch_op.drop_column('cobuilding_opt_in')
