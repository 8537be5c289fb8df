"""Review sessions assigned to annotators: a card per (photo, annotator), an overlap fraction.

Revision ID: 0005
Revises: 0004

The old unique key (session_id, image_id) has no name: PostgreSQL named it itself, SQLite
reflects it unnamed, so batch mode names it by a naming convention to drop it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UNNAMED = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _old_key_name() -> str:
    for found in sa.inspect(op.get_bind()).get_unique_constraints("review_items"):
        if list(found["column_names"]) == ["session_id", "image_id"]:
            return found["name"] or "uq_review_items_session_id"
    raise RuntimeError("review_items has no unique key (session_id, image_id) to replace")


def upgrade() -> None:
    old = _old_key_name()
    with op.batch_alter_table("review_sessions") as batch:
        batch.add_column(sa.Column("annotators", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("overlap", sa.Float(), nullable=False, server_default="0"))
    with op.batch_alter_table("review_items", naming_convention=UNNAMED) as batch:
        batch.add_column(sa.Column("annotator", sa.String(length=64), nullable=False, server_default=""))
        batch.drop_constraint(old, type_="unique")
        batch.create_unique_constraint("uq_review_items_card", ["session_id", "image_id", "annotator"])


def downgrade() -> None:
    with op.batch_alter_table("review_items") as batch:
        batch.drop_constraint("uq_review_items_card", type_="unique")
        batch.drop_column("annotator")
        batch.create_unique_constraint("uq_review_items_session_id", ["session_id", "image_id"])
    with op.batch_alter_table("review_sessions") as batch:
        batch.drop_column("overlap")
        batch.drop_column("annotators")
