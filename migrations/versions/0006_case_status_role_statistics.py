"""PostgreSQL statistics on the combination of a case's status and its step's role.

The staff to-do list asks for "accepted at a step of my roles, or suspended, or …" ordered by deadline. Without
statistics on the two columns together the planner underestimates the matching rows (status and step_role are
far from independent), scans and sorts them all instead of walking ix_cases_due_id to the end of the page: on the
benchmark's 2,000 cases 3.3 ms against 1.0 ms per page. SQLite has no such statistics.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE STATISTICS st_cases_status_role (mcv, dependencies) ON status, step_role FROM cases")
        op.execute("ANALYZE cases")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP STATISTICS IF EXISTS st_cases_status_role")
