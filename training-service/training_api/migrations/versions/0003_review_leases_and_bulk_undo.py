"""Review cards leased to one browser at a time; bulk changes kept so they can be undone.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("review_items") as batch:
        batch.add_column(sa.Column("leased_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "review_bulk_changes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "session_id",
            sa.Integer(),
            sa.ForeignKey("review_sessions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("undone", sa.Boolean(), nullable=False),
        sa.Column("cards", sa.JSON(), nullable=False),
    )
    op.create_index("ix_review_bulk_changes_session_id", "review_bulk_changes", ["session_id"])


def downgrade() -> None:
    op.drop_index("ix_review_bulk_changes_session_id", table_name="review_bulk_changes")
    op.drop_table("review_bulk_changes")
    with op.batch_alter_table("review_items") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("leased_by")
