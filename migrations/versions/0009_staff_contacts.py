"""Staff contacts (phone, e-mail, service-account openid; SM4-encrypted with masked copies) and staff members'
notification channel preferences, so their reminders and the leaders' briefing leave the app.

Revision ID: 0009
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import case_core.db

revision: str = "0009"
down_revision: str | None = "0007"  # re-chained at merge (the lead's 0008 lands first)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff") as batch_op:
        batch_op.add_column(sa.Column("phone_enc", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("phone_masked", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("email_enc", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("email_masked", sa.String(length=160), nullable=True))
        batch_op.add_column(sa.Column("mp_openid_enc", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("mp_openid_masked", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("contacts_updated_at", case_core.db.UTCDateTime(timezone=True), nullable=True))
    op.create_table(
        "notify_staff_preferences",
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column(
            "channels", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("updated_at", case_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_notify_staff_preferences_staff_id_staff")),
        sa.PrimaryKeyConstraint("staff_id", name=op.f("pk_notify_staff_preferences")),
    )


def downgrade() -> None:
    op.drop_table("notify_staff_preferences")
    with op.batch_alter_table("staff") as batch_op:
        for column in (
            "contacts_updated_at",
            "mp_openid_masked",
            "mp_openid_enc",
            "email_masked",
            "email_enc",
            "phone_masked",
            "phone_enc",
        ):
            batch_op.drop_column(column)
