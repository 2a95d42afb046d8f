"""Case statuses, actions, roles and their Chinese labels."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    SUPPLEMENT_REQUESTED = "supplement_requested"
    ACCEPTED = "accepted"
    SUSPENDED = "suspended"
    APPROVED = "approved"
    DENIED = "denied"
    NOT_ACCEPTED = "not_accepted"
    CONCLUDED = "concluded"
    DELIVERED = "delivered"
    WITHDRAWN = "withdrawn"
    REVOKED = "revoked"
    ABORTED = "aborted"


class Action(StrEnum):
    SUBMIT = "submit"
    WITHDRAW = "withdraw"
    ACCEPT = "accept"
    NOT_ACCEPT = "not_accept"
    REQUEST_SUPPLEMENT = "request_supplement"
    APPROVE = "approve"
    DENY = "deny"
    SUSPEND = "suspend"
    RESUME = "resume"
    EXTEND = "extend"
    ABORT = "abort"
    REVOKE = "revoke"
    ISSUE_LICENCE = "issue_licence"
    CONCLUDE = "conclude"
    DELIVER = "deliver"


class Role(StrEnum):
    """Staff roles. The process roles are the ones the catalogue's process templates name."""

    WINDOW_CLERK = "window_clerk"
    ACCEPTOR = "acceptor"
    HANDLER = "handler"
    INSPECTOR = "inspector"
    EXPERT_PANEL = "expert_panel"
    COMMUNITY_WORKER = "community_worker"
    LEADER = "leader"
    LICENCE_MAKER = "licence_maker"
    DISPATCH_CLERK = "dispatch_clerk"
    ADMIN = "admin"
    # May see personal data unmasked (each such read is audited).
    PII_READER = "pii_reader"
    # Consultation (6.7.6): agents curate the knowledge base and take over conversations; reviewers publish.
    CONSULT_AGENT = "consult_agent"
    KB_REVIEWER = "kb_reviewer"


APPLICANT = "applicant"

STATUS_LABELS: dict[str, str] = {
    "draft": "草稿",
    "submitted": "已提交",
    "supplement_requested": "待补正",
    "accepted": "已受理",
    "suspended": "已挂起",
    "approved": "审批通过",
    "denied": "不予许可",
    "not_accepted": "不予受理",
    "concluded": "已办结",
    "delivered": "已出件",
    "withdrawn": "已撤回",
    "revoked": "已撤销",
    "aborted": "已中止",
}

ACTION_LABELS: dict[str, str] = {
    "submit": "提交",
    "withdraw": "撤回",
    "accept": "受理",
    "not_accept": "不予受理",
    "request_supplement": "一次性告知补正",
    "approve": "审批通过",
    "deny": "不予许可",
    "suspend": "挂起",
    "resume": "恢复",
    "extend": "申请延时",
    "abort": "异常中止",
    "revoke": "撤销办件",
    "issue_licence": "证照签发",
    "conclude": "办结",
    "deliver": "出件登记",
}

# The applicant's three lists (6.2.5): 草稿 / 办理中 / 已结束.
DRAFT_STATUSES = frozenset({Status.DRAFT})
IN_PROGRESS_STATUSES = frozenset(
    {Status.SUBMITTED, Status.SUPPLEMENT_REQUESTED, Status.ACCEPTED, Status.SUSPENDED, Status.APPROVED}
)
FINISHED_STATUSES = frozenset(set(Status) - DRAFT_STATUSES - IN_PROGRESS_STATUSES)
# Statuses in which the working-day clock runs (or is paused but still owed).
CLOCKED_STATUSES = frozenset({Status.ACCEPTED, Status.SUSPENDED, Status.APPROVED})
# Statuses in which the applicant may still change form and materials.
EDITABLE_STATUSES = frozenset({Status.DRAFT, Status.SUPPLEMENT_REQUESTED})


def group_of(status: str) -> str:
    if status in DRAFT_STATUSES:
        return "draft"
    if status in IN_PROGRESS_STATUSES:
        return "in_progress"
    return "finished"


STEP_LABELS: dict[str, str] = {
    "pre_accept": "预受理",
    "accept": "受理",
    "review": "经办人审核",
    "onsite_inspection": "现场检查",
    "expert_review": "专家评审",
    "leader_sign": "领导签批",
    "make_licence": "制证",
    "conclude": "办结",
}

# Process steps whose completion is a decision (approve / deny).
DECISION_STEPS = frozenset({"review", "onsite_inspection", "expert_review", "leader_sign"})
# Steps consumed by the acceptance itself.
INTAKE_STEPS = frozenset({"pre_accept", "accept"})
