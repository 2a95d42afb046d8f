"""Indexes for the to-do list read as a merge of its parts, each part in deadline order.

The to-do list is "submitted, or accepted at a step of my roles, or suspended, or …" ordered by deadline with the
undated (submitted) cases last. One index on (due_date, id) made PostgreSQL walk every dated case of every status
to fill a window clerk's page; now each part is one range of (status[, step_role], due_date, id) cut at the page's
end and the parts are merged (case_core.queries._tasks_statement). ix_cases_due_id has no reader left, and
ix_cases_status is the first column of ix_cases_status_due: both go, two index entries fewer to write with every
change of a case's status.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch_op:
        batch_op.drop_index("ix_cases_due_id")
        batch_op.drop_index("ix_cases_status")
        batch_op.drop_index("ix_cases_status_due")
        batch_op.create_index("ix_cases_status_due", ["status", "due_date", "id"])
        batch_op.create_index("ix_cases_status_role_due", ["status", "step_role", "due_date", "id"])


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch_op:
        batch_op.drop_index("ix_cases_status_role_due")
        batch_op.drop_index("ix_cases_status_due")
        batch_op.create_index("ix_cases_status_due", ["status", "due_date"])
        batch_op.create_index("ix_cases_status", ["status"])
        batch_op.create_index("ix_cases_due_id", ["due_date", "id"])
