"""Binding a staff member's WeChat service-account openid from a message: a blind index of the openid (one openid,
one staff member) and the one-time bind codes.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import case_core.db

revision: str = "0011"
down_revision: str | None = "0010"  # re-chained at merge
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Openids typed in before this revision get their index when the service first meets them
    # (staff_wechat_bind.index_legacy_openids): the key is the application's secret, unknown here.
    with op.batch_alter_table("staff") as batch_op:
        batch_op.add_column(sa.Column("mp_openid_index", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_staff_mp_openid_index"), ["mp_openid_index"])
    op.create_table(
        "staff_wechat_bind_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("code_index", sa.String(length=64), nullable=False),
        sa.Column("created_at", case_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", case_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_staff_wechat_bind_codes_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_wechat_bind_codes")),
        sa.UniqueConstraint("code_index", name=op.f("uq_staff_wechat_bind_codes_code_index")),
        sa.UniqueConstraint("staff_id", name=op.f("uq_staff_wechat_bind_codes_staff_id")),
    )


def downgrade() -> None:
    op.drop_table("staff_wechat_bind_codes")
    with op.batch_alter_table("staff") as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_staff_mp_openid_index"), type_="unique")
        batch_op.drop_column("mp_openid_index")
