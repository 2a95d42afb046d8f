"""The case state machine: one transition table (data) and one pure function that applies it.

``transition`` checks, in this order, that the action is allowed from the case's status (409 otherwise), that
the actor holds a role the rule names (403), and that every precondition holds (422). Only then does it say
what the case becomes. It writes nothing; the service applies the outcome inside the request's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from case_core.domain.errors import Forbidden, InvalidTransition, PreconditionFailed
from case_core.domain.states import (
    APPLICANT,
    DECISION_STEPS,
    INTAKE_STEPS,
    Action,
    Role,
    Status,
)

S = Status
A = Action


@dataclass(frozen=True)
class StepDef:
    """One step of a process template (6.4.9)."""

    key: str
    name: str
    role: str
    time_limit_working_days: int = 0
    counts_toward_limit: bool = True


@dataclass(frozen=True)
class Actor:
    kind: Literal["applicant", "staff", "system"]
    id: int
    roles: frozenset[str] = frozenset()
    name: str = ""


@dataclass(frozen=True)
class Defect:
    """One line of a one-time supplementation notice: which material or field, what is wrong."""

    reason: str
    material_type: str | None = None
    field: str | None = None


@dataclass(frozen=True)
class Params:
    opinion: str | None = None
    reason: str | None = None
    days: int | None = None
    defects: tuple[Defect, ...] = ()


@dataclass(frozen=True)
class CaseFacts:
    """What the rules need to know about a case; gathered by the service, so the rules stay pure."""

    status: Status
    steps: tuple[StepDef, ...] = ()
    step_index: int | None = None
    supplement_count: int = 0
    extension_days: int = 0
    promised_days: int = 0
    legal_days: int = 0
    licence_expected: bool = False
    licence_issued: bool = False
    missing_materials: tuple[str, ...] = ()
    form_errors: Mapping[str, str] = field(default_factory=dict)
    delivery_missing: tuple[str, ...] = ()

    @property
    def current_step(self) -> StepDef | None:
        if self.step_index is None or not (0 <= self.step_index < len(self.steps)):
            return None
        return self.steps[self.step_index]


@dataclass(frozen=True)
class Outcome:
    status: Status
    step_index: int | None
    extension_days: int
    supplement_count: int


# Who may act. STEP_ROLE: the role named by the current step of the case's process template.
APPLICANT_ONLY = frozenset({APPLICANT})
STEP_ROLE = frozenset({"<step role>"})
INTAKE = frozenset({Role.WINDOW_CLERK, Role.ACCEPTOR})
CASEWORK = frozenset({Role.HANDLER, Role.INSPECTOR, Role.EXPERT_PANEL, Role.COMMUNITY_WORKER})


@dataclass(frozen=True)
class Rule:
    action: Action
    sources: frozenset[Status]
    # None: decided by the process template (``approve`` moves to the next step, or to approved after the last
    # decision step; ``issue_licence`` stays approved and moves past the make_licence step).
    target: Status | None
    roles: frozenset[str]
    requires: tuple[str, ...] = ()


RULES: tuple[Rule, ...] = (
    Rule(
        A.SUBMIT,
        frozenset({S.DRAFT, S.SUPPLEMENT_REQUESTED}),
        S.SUBMITTED,
        APPLICANT_ONLY,
        ("form_complete", "materials_complete", "delivery_chosen"),
    ),
    Rule(A.WITHDRAW, frozenset({S.SUBMITTED, S.SUPPLEMENT_REQUESTED}), S.WITHDRAWN, APPLICANT_ONLY),
    Rule(A.ACCEPT, frozenset({S.SUBMITTED}), S.ACCEPTED, INTAKE),
    Rule(A.NOT_ACCEPT, frozenset({S.SUBMITTED}), S.NOT_ACCEPTED, INTAKE, ("reason_given",)),
    Rule(
        A.REQUEST_SUPPLEMENT,
        frozenset({S.SUBMITTED}),
        S.SUPPLEMENT_REQUESTED,
        INTAKE,
        ("defects_given", "first_supplement"),
    ),
    Rule(A.APPROVE, frozenset({S.ACCEPTED}), None, STEP_ROLE, ("at_decision_step",)),
    Rule(A.DENY, frozenset({S.ACCEPTED}), S.DENIED, STEP_ROLE, ("at_decision_step", "opinion_given")),
    Rule(A.SUSPEND, frozenset({S.ACCEPTED}), S.SUSPENDED, CASEWORK, ("reason_given",)),
    Rule(A.RESUME, frozenset({S.SUSPENDED}), S.ACCEPTED, CASEWORK),
    Rule(
        A.EXTEND,
        frozenset({S.ACCEPTED, S.SUSPENDED}),
        None,
        CASEWORK,
        ("days_positive", "reason_given", "within_legal_limit"),
    ),
    Rule(
        A.ABORT,
        frozenset({S.ACCEPTED, S.SUSPENDED, S.APPROVED}),
        S.ABORTED,
        frozenset({Role.LEADER}),
        ("reason_given",),
    ),
    Rule(A.REVOKE, frozenset({S.APPROVED}), S.REVOKED, frozenset({Role.LEADER}), ("reason_given",)),
    Rule(
        A.ISSUE_LICENCE,
        frozenset({S.APPROVED}),
        None,
        frozenset({Role.LICENCE_MAKER}),
        ("licence_expected", "licence_not_issued"),
    ),
    Rule(
        A.CONCLUDE,
        frozenset({S.APPROVED}),
        S.CONCLUDED,
        frozenset({Role.LICENCE_MAKER, Role.DISPATCH_CLERK}),
        ("licence_issued_if_expected",),
    ),
    Rule(A.DELIVER, frozenset({S.CONCLUDED}), S.DELIVERED, frozenset({Role.WINDOW_CLERK, Role.DISPATCH_CLERK})),
)

RULES_BY_ACTION: dict[Action, Rule] = {r.action: r for r in RULES}

# state × action → next state (None where the template decides). The published form of the table.
TABLE: dict[tuple[Status, Action], Status | None] = {
    (source, rule.action): rule.target for rule in RULES for source in rule.sources
}


def _fail(code: str, message: str, **details: object) -> None:
    raise PreconditionFailed(code, message, **details)


def _text(value: str | None) -> bool:
    return bool(value and value.strip())


PRECONDITIONS: dict[str, Callable[[CaseFacts, Params], None]] = {
    "form_complete": lambda f, p: (
        None
        if not f.form_errors
        else _fail(
            "form_incomplete",
            "表单有未填写或填写有误的内容：" + "；".join(f.form_errors.values()),
            fields=dict(f.form_errors),
        )
    ),
    "materials_complete": lambda f, p: (
        None
        if not f.missing_materials
        else _fail(
            "materials_missing", "请补充以下材料：" + "、".join(f.missing_materials), missing=list(f.missing_materials)
        )
    ),
    "delivery_chosen": lambda f, p: (
        None
        if not f.delivery_missing
        else _fail("delivery_missing", "请选择" + "、".join(f.delivery_missing), missing=list(f.delivery_missing))
    ),
    "reason_given": lambda f, p: (
        None if _text(p.reason) or _text(p.opinion) else _fail("reason_required", "请填写理由")
    ),
    "opinion_given": lambda f, p: (
        None if _text(p.opinion) or _text(p.reason) else _fail("opinion_required", "请填写审批意见")
    ),
    "defects_given": lambda f, p: (
        None
        if p.defects and all(_text(d.reason) for d in p.defects)
        else _fail("defects_required", "一次性告知补正须逐项列明需补正的材料或内容及原因")
    ),
    "first_supplement": lambda f, p: (
        None
        if f.supplement_count == 0
        else _fail("supplement_already_requested", "该办件已一次性告知过补正内容，不能再次要求补正")
    ),
    "at_decision_step": lambda f, p: (
        None
        if (f.current_step and f.current_step.key in DECISION_STEPS)
        else _fail("not_a_decision_step", "办件当前环节不是审批环节")
    ),
    "days_positive": lambda f, p: None if (p.days or 0) > 0 else _fail("days_required", "请填写延长的工作日数"),
    "within_legal_limit": lambda f, p: (
        None
        if (f.legal_days <= 0 or f.promised_days + f.extension_days + (p.days or 0) <= f.legal_days)
        else _fail(
            "beyond_legal_limit", f"延时后的办理时限不能超过法定时限{f.legal_days}个工作日", legal_days=f.legal_days
        )
    ),
    "licence_expected": lambda f, p: None if f.licence_expected else _fail("no_licence_for_item", "该事项不核发证照"),
    "licence_not_issued": lambda f, p: None if not f.licence_issued else _fail("licence_already_issued", "证照已签发"),
    "licence_issued_if_expected": lambda f, p: (
        None if (f.licence_issued or not f.licence_expected) else _fail("licence_not_issued", "请先签发证照再办结")
    ),
}


def _may_act(rule: Rule, facts: CaseFacts, actor: Actor) -> bool:
    if rule.roles is APPLICANT_ONLY:
        return actor.kind == "applicant"
    if actor.kind != "staff":
        return False
    if rule.roles is STEP_ROLE:
        step = facts.current_step
        return step is not None and step.role in actor.roles
    return bool(rule.roles & actor.roles)


def allowed_actions(facts: CaseFacts, actor: Actor) -> list[Action]:
    """Actions whose status and role checks pass (preconditions not evaluated): what a page may offer."""
    return [r.action for r in RULES if facts.status in r.sources and _may_act(r, facts, actor)]


def _first_after_intake(steps: tuple[StepDef, ...]) -> int | None:
    for i, s in enumerate(steps):
        if s.key not in INTAKE_STEPS:
            return i
    return None


def _next_index(steps: tuple[StepDef, ...], index: int | None) -> int | None:
    nxt = (index if index is not None else -1) + 1
    return nxt if nxt < len(steps) else None


def transition(facts: CaseFacts, action: Action, actor: Actor, params: Params = Params()) -> Outcome:
    """Decide what ``action`` by ``actor`` does to a case described by ``facts``, or raise why it cannot."""
    rule = RULES_BY_ACTION[Action(action)]
    if facts.status not in rule.sources:
        raise InvalidTransition(facts.status, rule.action)
    if not _may_act(rule, facts, actor):
        raise Forbidden(action=rule.action)
    for name in rule.requires:
        PRECONDITIONS[name](facts, params)

    status = rule.target
    step_index = facts.step_index
    extension_days = facts.extension_days
    supplement_count = facts.supplement_count

    if rule.action is A.SUBMIT:
        step_index = 0 if facts.steps else None
    elif rule.action is A.ACCEPT:
        step_index = _first_after_intake(facts.steps)
    elif rule.action is A.REQUEST_SUPPLEMENT:
        supplement_count += 1
    elif rule.action is A.APPROVE:
        step_index = _next_index(facts.steps, facts.step_index)
        remaining = facts.steps[step_index:] if step_index is not None else ()
        status = S.ACCEPTED if any(s.key in DECISION_STEPS for s in remaining) else S.APPROVED
    elif rule.action is A.EXTEND:
        status = facts.status
        extension_days += int(params.days or 0)
    elif rule.action is A.ISSUE_LICENCE:
        status = S.APPROVED
        step = facts.current_step
        if step is not None and step.key == "make_licence":
            step_index = _next_index(facts.steps, facts.step_index)
    elif rule.action in (A.CONCLUDE, A.DELIVER):
        step_index = None

    assert status is not None
    return Outcome(
        status=status, step_index=step_index, extension_days=extension_days, supplement_count=supplement_count
    )


def clock_paused(status: Status | str, step: StepDef | None) -> bool:
    """Whether the working-day clock stands still: suspended, or in a step that does not count (挂起)."""
    if status == S.SUSPENDED:
        return True
    return status in (S.ACCEPTED, S.APPROVED) and step is not None and not step.counts_toward_limit
