"""Indexes for the staff task lists' orders; the item ↔ version foreign keys on PostgreSQL.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_cases_due_id", "cases", ["due_date", "id"])
    op.create_index("ix_cases_finished_id", "cases", ["finished_at", "id"])
    if op.get_bind().dialect.name != "sqlite":
        # 0001 (generated on SQLite) left out the two foreign keys that close the item ↔ version cycle.
        op.create_foreign_key(
            "fk_service_items_form_version_id_form_versions",
            "service_items",
            "form_versions",
            ["form_version_id"],
            ["id"],
        )
        op.create_foreign_key(
            "fk_service_items_process_version_id_process_versions",
            "service_items",
            "process_versions",
            ["process_version_id"],
            ["id"],
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("fk_service_items_process_version_id_process_versions", "service_items", "foreignkey")
        op.drop_constraint("fk_service_items_form_version_id_form_versions", "service_items", "foreignkey")
    op.drop_index("ix_cases_finished_id", table_name="cases")
    op.drop_index("ix_cases_due_id", table_name="cases")
