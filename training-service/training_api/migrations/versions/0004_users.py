"""Users (team mode), their credentials (API tokens, UI logins), and who made a correction.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(length=64), nullable=False, unique=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "credentials",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=255), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_credentials_user_id", "credentials", ["user_id"])
    with op.batch_alter_table("corrections") as batch:
        batch.add_column(sa.Column("annotator", sa.String(length=64), nullable=True))
    op.create_index("ix_corrections_annotator", "corrections", ["annotator"])


def downgrade() -> None:
    op.drop_index("ix_corrections_annotator", table_name="corrections")
    with op.batch_alter_table("corrections") as batch:
        batch.drop_column("annotator")
    op.drop_index("ix_credentials_user_id", table_name="credentials")
    op.drop_table("credentials")
    op.drop_table("users")
