"""Material checks (ocr package): the machine reading of each upload, and its masked summary on the material.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import case_core.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("materials") as batch:
        batch.add_column(sa.Column("check_doc", JSON, nullable=True))
    op.create_table(
        "material_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("material_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("material_type", sa.String(length=64), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("findings", JSON, nullable=False),
        sa.Column("fields_enc", sa.Text(), nullable=True),
        sa.Column("text_enc", sa.Text(), nullable=True),
        sa.Column("error", sa.String(length=64), nullable=True),
        sa.Column("timings", JSON, nullable=True),
        sa.Column("created_at", case_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", case_core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["material_id"], ["materials.id"], name=op.f("fk_material_checks_material_id_materials")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_material_checks")),
        sa.UniqueConstraint("material_id", name=op.f("uq_material_checks_material_id")),
    )


def downgrade() -> None:
    op.drop_table("material_checks")
    with op.batch_alter_table("materials") as batch:
        batch.drop_column("check_doc")
