"""Staff account administration: a token generation per account (disabling, a password reset or change, new roles
or department end the tokens issued before), the must-change-password flag, when the password last changed and
when the account last logged in.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import case_core.db

revision: str = "0010"
down_revision: str | None = "0009"  # re-chained at merge
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff") as batch_op:
        batch_op.add_column(sa.Column("token_version", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("must_change_password", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("password_changed_at", case_core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_login_at", case_core.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff") as batch_op:
        for column in ("last_login_at", "password_changed_at", "must_change_password", "token_version"):
            batch_op.drop_column(column)
