"""The case state machine, specified pair by pair (status × action), then roles, preconditions and step walking.

The expected matrix below is written out by hand and is deliberately independent of ``TABLE`` in the code; the
last test holds the two to each other so that a change to either one is noticed.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from case_core.domain.errors import Forbidden, InvalidTransition, PreconditionFailed
from case_core.domain.states import Action, Role, Status
from case_core.domain.transitions import (
    TABLE,
    Actor,
    CaseFacts,
    Defect,
    Params,
    StepDef,
    allowed_actions,
    clock_paused,
    transition,
)

A, S, R = Action, Status, Role

# Step templates as in /work/shared/data/items.yaml.
PRE = StepDef("pre_accept", "预受理", "window_clerk", 1, counts_toward_limit=False)
ACC = StepDef("accept", "受理", "acceptor", 1)
REVIEW = StepDef("review", "经办人审核", "handler", 3)
ONSITE = StepDef("onsite_inspection", "现场核查", "inspector", 3)
ONSITE_PAUSED = StepDef("onsite_inspection", "实地核查", "inspector", 20, counts_toward_limit=False)
EXPERT_PAUSED = StepDef("expert_review", "专家评审", "expert_panel", 15, counts_toward_limit=False)
COMMUNITY = StepDef("onsite_inspection", "入户核查", "community_worker", 5)
SIGN = StepDef("leader_sign", "领导签批", "leader", 2)
MAKE = StepDef("make_licence", "制证", "licence_maker", 1)
CONCLUDE = StepDef("conclude", "办结", "dispatch_clerk", 0)

PHYSICIAN = (PRE, ACC, REVIEW, SIGN, MAKE, CONCLUDE)  # GD-WJ-XK-0001 医师执业注册
CLINIC = (PRE, ACC, REVIEW, ONSITE, SIGN, MAKE, CONCLUDE)  # GD-WJ-XK-0005 医疗机构执业登记
PLASMA = (PRE, ACC, REVIEW, ONSITE_PAUSED, EXPERT_PAUSED, SIGN, MAKE, CONCLUDE)  # GD-WJ-XK-0010 单采血浆
ALLOWANCE = (PRE, ACC, COMMUNITY, REVIEW, SIGN, CONCLUDE)  # GD-WJ-GF-0001 特别扶助金 (no licence)
NO_DECISION = (PRE, ACC, MAKE, CONCLUDE)

APPLICANT = Actor("applicant", 1)
SYSTEM = Actor("system", 0)


def staff(*roles: str) -> Actor:
    return Actor("staff", 100, frozenset(roles))


EVERYONE = staff(*Role)


def actor_id(actor: Actor) -> str:
    """A test id that is the same in every process (a frozenset's repr follows the string hash seed, and pytest-xdist
    workers must collect identical ids)."""
    roles = "all-roles" if actor == EVERYONE else "+".join(sorted(str(r) for r in actor.roles))
    return f"{actor.kind}-{roles}" if roles else actor.kind


# ---------------------------------------------------------------------------------------------------- the matrix
# "." refused; a code: the status the case moves to; "T": the template decides (approve: next decision step or
# approved); "=": the status stays as it is (extend, issue_licence).
COLUMNS = {
    "sub": A.SUBMIT, "wdr": A.WITHDRAW, "acc": A.ACCEPT, "nac": A.NOT_ACCEPT, "sup": A.REQUEST_SUPPLEMENT,
    "apv": A.APPROVE, "den": A.DENY, "ssp": A.SUSPEND, "res": A.RESUME, "ext": A.EXTEND, "abt": A.ABORT,
    "rev": A.REVOKE, "lic": A.ISSUE_LICENCE, "con": A.CONCLUDE, "del": A.DELIVER,
}  # fmt: skip
CODES = {
    "SUB": S.SUBMITTED, "SUP": S.SUPPLEMENT_REQUESTED, "ACC": S.ACCEPTED, "SUS": S.SUSPENDED, "DEN": S.DENIED,
    "NAC": S.NOT_ACCEPTED, "CON": S.CONCLUDED, "DEL": S.DELIVERED, "WDR": S.WITHDRAWN, "REV": S.REVOKED,
    "ABT": S.ABORTED,
}  # fmt: skip
MATRIX = """
status                sub  wdr  acc  nac  sup  apv  den  ssp  res  ext  abt  rev  lic  con  del
draft                 SUB  .    .    .    .    .    .    .    .    .    .    .    .    .    .
submitted             .    WDR  ACC  NAC  SUP  .    .    .    .    .    .    .    .    .    .
supplement_requested  SUB  WDR  .    .    .    .    .    .    .    .    .    .    .    .    .
accepted              .    .    .    .    .    T    DEN  SUS  .    =    ABT  .    .    .    .
suspended             .    .    .    .    .    .    .    .    ACC  =    ABT  .    .    .    .
approved              .    .    .    .    .    .    .    .    .    .    ABT  REV  =    CON  .
denied                .    .    .    .    .    .    .    .    .    .    .    .    .    .    .
not_accepted          .    .    .    .    .    .    .    .    .    .    .    .    .    .    .
concluded             .    .    .    .    .    .    .    .    .    .    .    .    .    .    DEL
delivered             .    .    .    .    .    .    .    .    .    .    .    .    .    .    .
withdrawn             .    .    .    .    .    .    .    .    .    .    .    .    .    .    .
revoked               .    .    .    .    .    .    .    .    .    .    .    .    .    .    .
aborted               .    .    .    .    .    .    .    .    .    .    .    .    .    .    .
"""


def _parse() -> dict[tuple[Status, Action], str]:
    header, *rows = (line.split() for line in MATRIX.strip().splitlines())
    actions = [COLUMNS[c] for c in header[1:]]
    assert len(rows) == len(Status) and len(actions) == len(Action)
    return {(S(row[0]), a): cell for row in rows for a, cell in zip(actions, row[1:], strict=True)}


EXPECTED = _parse()
ALLOWED = sorted((k for k, v in EXPECTED.items() if v != "."), key=str)
REFUSED = sorted((k for k, v in EXPECTED.items() if v == "."), key=str)

# Per action: who may do it, where the step pointer is (in PHYSICIAN) and what the request carries.
SETUP: dict[Action, tuple[Actor, int | None, Params]] = {
    A.SUBMIT: (APPLICANT, None, Params()),
    A.WITHDRAW: (APPLICANT, None, Params()),
    A.ACCEPT: (staff(R.ACCEPTOR), 0, Params()),
    A.NOT_ACCEPT: (staff(R.ACCEPTOR), 0, Params(reason="不属于本机关职权范围")),
    A.REQUEST_SUPPLEMENT: (staff(R.WINDOW_CLERK), 0, Params(defects=(Defect("体检证明过期", "health_check_report"),))),
    A.APPROVE: (staff(R.HANDLER), 2, Params(opinion="符合条件，拟同意")),
    A.DENY: (staff(R.HANDLER), 2, Params(opinion="不符合注册条件")),
    A.SUSPEND: (staff(R.HANDLER), 2, Params(reason="等待公安部门核查")),
    A.RESUME: (staff(R.HANDLER), 2, Params()),
    A.EXTEND: (staff(R.HANDLER), 2, Params(days=3, reason="情况复杂")),
    A.ABORT: (staff(R.LEADER), 2, Params(reason="申请人死亡")),
    A.REVOKE: (staff(R.LEADER), 4, Params(reason="以欺骗手段取得许可")),
    A.ISSUE_LICENCE: (staff(R.LICENCE_MAKER), 4, Params()),
    A.CONCLUDE: (staff(R.DISPATCH_CLERK), 4, Params()),
    A.DELIVER: (staff(R.WINDOW_CLERK), None, Params()),
}  # fmt: skip


def facts_for(status: Status, action: Action, **overrides: object) -> CaseFacts:
    index, issued = SETUP[action][1], action is A.CONCLUDE
    facts = CaseFacts(
        status, PHYSICIAN, index, legal_days=20, promised_days=5, licence_expected=True, licence_issued=issued
    )
    return replace(facts, **overrides)


def expected_status(status: Status, action: Action) -> Status:
    cell = EXPECTED[status, action]
    # "T": approve at review in PHYSICIAN leads on to leader_sign, so the case stays accepted.
    return {"T": S.ACCEPTED, "=": status}.get(cell) or CODES[cell]


def run(status: Status, action: Action, **overrides: object):
    actor, _, params = SETUP[action]
    return transition(facts_for(status, action, **overrides), action, actor, params)


def test_matrix_covers_every_status_and_action():
    assert len(EXPECTED) == 13 * 15 == 195
    assert len(ALLOWED) == 20


@pytest.mark.parametrize(("status", "action"), REFUSED)
def test_refused_pair_raises_invalid_transition(status, action):
    with pytest.raises(InvalidTransition) as exc:
        run(status, action)
    assert (exc.value.code, exc.value.status) == ("invalid_transition", 409)
    assert exc.value.details == {"status": status, "action": action}


@pytest.mark.parametrize(("status", "action"), ALLOWED)
def test_allowed_pair_moves_to_expected_status(status, action):
    assert run(status, action).status == expected_status(status, action)


def test_refusal_message_names_status_and_action_in_chinese():
    with pytest.raises(InvalidTransition) as exc:
        run(S.DELIVERED, A.WITHDRAW)
    assert exc.value.message == "办件当前状态为“已出件”，不能执行“撤回”"


def test_code_table_equals_expected_matrix():
    expected = {k: (None if v in ("T", "=") else CODES[v]) for k, v in EXPECTED.items() if v != "."}
    assert expected == TABLE


# ---------------------------------------------------------------------------------------------------- roles
INTAKE, LEADER = {R.WINDOW_CLERK, R.ACCEPTOR}, {R.LEADER}
CASEWORK = {R.HANDLER, R.INSPECTOR, R.EXPERT_PANEL, R.COMMUNITY_WORKER}
# fmt: off
STATIC_ROLES = {
    A.ACCEPT: INTAKE, A.NOT_ACCEPT: INTAKE, A.REQUEST_SUPPLEMENT: INTAKE,
    A.SUSPEND: CASEWORK, A.RESUME: CASEWORK, A.EXTEND: CASEWORK, A.ABORT: LEADER, A.REVOKE: LEADER,
    A.ISSUE_LICENCE: {R.LICENCE_MAKER}, A.CONCLUDE: {R.LICENCE_MAKER, R.DISPATCH_CLERK},
    A.DELIVER: {R.WINDOW_CLERK, R.DISPATCH_CLERK},
}
# fmt: on
SOURCE = {a: next(s for (s, b), v in EXPECTED.items() if b is a and v != ".") for a in Action}
STAFF_ACTIONS = [a for a in Action if a not in (A.SUBMIT, A.WITHDRAW)]


@pytest.mark.parametrize(("action", "role"), [(a, r) for a in STATIC_ROLES for r in Role])
def test_staff_action_needs_one_of_its_roles(action, role):
    params = SETUP[action][2]
    facts = facts_for(SOURCE[action], action)
    if role in STATIC_ROLES[action]:
        assert transition(facts, action, staff(role), params).status == expected_status(SOURCE[action], action)
    else:
        with pytest.raises(Forbidden) as exc:
            transition(facts, action, staff(role), params)
        assert (exc.value.code, exc.value.status) == ("forbidden", 403)
        assert exc.value.details == {"action": action}


@pytest.mark.parametrize("action", STATIC_ROLES)
def test_staff_holding_every_other_role_is_still_forbidden(action):
    actor = staff(*(set(Role) - STATIC_ROLES[action]))
    with pytest.raises(Forbidden):
        transition(facts_for(SOURCE[action], action), action, actor, SETUP[action][2])


WRONG_KIND = (
    [(APPLICANT, a) for a in STAFF_ACTIONS]  # applicants cannot do staff actions
    + [(EVERYONE, A.SUBMIT), (EVERYONE, A.WITHDRAW)]  # staff, whatever their roles, cannot act for the applicant
    + [(SYSTEM, a) for a in Action]  # the system actor may do nothing through transition()
)


@pytest.mark.parametrize(("actor", "action"), WRONG_KIND, ids=lambda v: getattr(v, "kind", v))
def test_actor_of_the_wrong_kind_is_forbidden(actor, action):
    with pytest.raises(Forbidden):
        transition(facts_for(SOURCE[action], action), action, actor, SETUP[action][2])


# fmt: off
STEP_ROLE_CASES = [
    (PHYSICIAN, 2, R.HANDLER, True), (PHYSICIAN, 2, R.LEADER, False),
    (PHYSICIAN, 3, R.LEADER, True), (PHYSICIAN, 3, R.HANDLER, False),
    (CLINIC, 3, R.INSPECTOR, True), (CLINIC, 3, R.HANDLER, False),
    (PLASMA, 4, R.EXPERT_PANEL, True), (PLASMA, 4, R.INSPECTOR, False),
    (ALLOWANCE, 2, R.COMMUNITY_WORKER, True), (ALLOWANCE, 2, R.INSPECTOR, False),
    (PHYSICIAN, None, R.HANDLER, False),  # no current step: nobody's turn
]
# fmt: on


@pytest.mark.parametrize(("steps", "index", "role", "allowed"), STEP_ROLE_CASES)
@pytest.mark.parametrize("action", [A.APPROVE, A.DENY])
def test_decision_needs_role_of_current_step(action, steps, index, role, allowed):
    facts = CaseFacts(S.ACCEPTED, steps=steps, step_index=index)
    if allowed:
        out = transition(facts, action, staff(role), Params(opinion="意见"))
        assert (out.status is S.DENIED) if action is A.DENY else (out.step_index == index + 1)
    else:
        with pytest.raises(Forbidden):
            transition(facts, action, staff(role), Params(opinion="意见"))


def test_status_is_checked_before_role():
    with pytest.raises(InvalidTransition):
        transition(CaseFacts(S.DRAFT), A.ACCEPT, APPLICANT)


def test_role_is_checked_before_preconditions():
    with pytest.raises(Forbidden):
        transition(CaseFacts(S.SUBMITTED), A.NOT_ACCEPT, staff(R.HANDLER), Params())


# ---------------------------------------------------------------------------------------------------- preconditions
CASES = [
    (S.DRAFT, A.SUBMIT, {"form_errors": {"id_number": "证件号码不是有效的居民身份证号码"}}, None, "form_incomplete"),
    (S.SUPPLEMENT_REQUESTED, A.SUBMIT, {"missing_materials": ("health_check_report",)}, None, "materials_missing"),
    (S.DRAFT, A.SUBMIT, {"delivery_missing": ("出件方式",)}, None, "delivery_missing"),
    (S.SUBMITTED, A.NOT_ACCEPT, {}, Params(), "reason_required"),
    (S.SUBMITTED, A.NOT_ACCEPT, {}, Params(reason="   "), "reason_required"),
    (S.ACCEPTED, A.SUSPEND, {}, Params(), "reason_required"),
    (S.ACCEPTED, A.EXTEND, {}, Params(days=2), "reason_required"),
    (S.APPROVED, A.ABORT, {}, Params(reason=""), "reason_required"),
    (S.APPROVED, A.REVOKE, {}, Params(), "reason_required"),
    (S.ACCEPTED, A.DENY, {}, Params(), "opinion_required"),
    (S.ACCEPTED, A.DENY, {}, Params(opinion=" \n"), "opinion_required"),
    (S.SUBMITTED, A.REQUEST_SUPPLEMENT, {}, Params(), "defects_required"),
    (S.SUBMITTED, A.REQUEST_SUPPLEMENT, {}, Params(defects=(Defect(" ", "id_photo"),)), "defects_required"),
    (S.SUBMITTED, A.REQUEST_SUPPLEMENT, {"supplement_count": 1}, None, "supplement_already_requested"),
    (S.ACCEPTED, A.EXTEND, {}, Params(reason="复杂"), "days_required"),
    (S.SUSPENDED, A.EXTEND, {}, Params(days=0, reason="复杂"), "days_required"),
    (S.ACCEPTED, A.EXTEND, {}, Params(days=-2, reason="复杂"), "days_required"),
    (S.ACCEPTED, A.EXTEND, {"extension_days": 10}, Params(days=6, reason="复杂"), "beyond_legal_limit"),
    (S.APPROVED, A.ISSUE_LICENCE, {"licence_expected": False}, None, "no_licence_for_item"),
    (S.APPROVED, A.ISSUE_LICENCE, {"licence_issued": True}, None, "licence_already_issued"),
    (S.APPROVED, A.CONCLUDE, {"licence_issued": False}, None, "licence_not_issued"),
]


@pytest.mark.parametrize(("status", "action", "facts", "params", "code"), CASES, ids=[c[-1] for c in CASES])
def test_precondition_failure_has_its_code(status, action, facts, params, code):
    actor, _, default = SETUP[action]
    with pytest.raises(PreconditionFailed) as exc:
        transition(facts_for(status, action, **facts), action, actor, params or default)
    assert (exc.value.code, exc.value.status) == (code, 422)
    assert exc.value.message


@pytest.mark.parametrize("action", [A.APPROVE, A.DENY])
def test_decision_outside_a_decision_step_is_refused(action):
    facts = CaseFacts(S.ACCEPTED, steps=NO_DECISION, step_index=2)  # make_licence, licence_maker's turn
    with pytest.raises(PreconditionFailed) as exc:
        transition(facts, action, staff(R.LICENCE_MAKER), Params(opinion="同意"))
    assert exc.value.code == "not_a_decision_step"


def test_form_errors_are_listed_field_by_field():
    errors = {"id_number": "证件号码有误", "mobile": "手机号码有误"}
    with pytest.raises(PreconditionFailed) as exc:
        run(S.DRAFT, A.SUBMIT, form_errors=errors, missing_materials=("id_photo",))
    assert exc.value.code == "form_incomplete"  # the form is checked before the materials
    assert exc.value.details == {"fields": errors}


def test_missing_materials_are_listed():
    with pytest.raises(PreconditionFailed) as exc:
        run(S.DRAFT, A.SUBMIT, missing_materials=("id_photo", "employment_proof"))
    assert exc.value.details == {"missing": ["id_photo", "employment_proof"]}


@pytest.mark.parametrize(
    ("action", "params", "status"),
    [(A.DENY, Params(reason="不符合条件"), S.DENIED), (A.SUSPEND, Params(opinion="待核查"), S.SUSPENDED)],
)
def test_reason_and_opinion_stand_in_for_each_other(action, params, status):
    assert transition(facts_for(S.ACCEPTED, action), action, staff(R.HANDLER), params).status is status


@pytest.mark.parametrize(
    ("legal", "extension", "days", "ok"), [(20, 10, 5, True), (20, 10, 6, False), (0, 100, 50, True)]
)
def test_extension_may_reach_but_not_pass_the_legal_limit(legal, extension, days, ok):
    facts = facts_for(S.ACCEPTED, A.EXTEND, legal_days=legal, extension_days=extension)
    params = Params(days=days, reason="情况复杂")
    if ok:
        assert transition(facts, A.EXTEND, staff(R.HANDLER), params).extension_days == extension + days
    else:
        with pytest.raises(PreconditionFailed) as exc:
            transition(facts, A.EXTEND, staff(R.HANDLER), params)
        assert exc.value.details == {"legal_days": legal}


def test_conclude_without_licence_when_item_issues_none():
    assert run(S.APPROVED, A.CONCLUDE, licence_expected=False, licence_issued=False).status is S.CONCLUDED


# ---------------------------------------------------------------------------------------------------- effects
def walk(steps, start, *roles):
    """Approve once per role from ``start``; return the (status, step key) after each approval."""
    facts, seen = CaseFacts(S.ACCEPTED, steps=steps, step_index=start), []
    for role in roles:
        out = transition(facts, A.APPROVE, staff(role), Params(opinion="同意"))
        facts = CaseFacts(out.status, steps=steps, step_index=out.step_index)
        seen.append((out.status, facts.current_step.key if facts.current_step else None))
    return seen


def test_approve_walks_review_then_leader_sign_to_make_licence():
    assert walk(PHYSICIAN, 2, R.HANDLER, R.LEADER) == [(S.ACCEPTED, "leader_sign"), (S.APPROVED, "make_licence")]


def test_approve_walks_inserted_onsite_and_expert_steps():
    assert walk(PLASMA, 2, R.HANDLER, R.INSPECTOR, R.EXPERT_PANEL, R.LEADER) == [
        (S.ACCEPTED, "onsite_inspection"),
        (S.ACCEPTED, "expert_review"),
        (S.ACCEPTED, "leader_sign"),
        (S.APPROVED, "make_licence"),
    ]


def test_approve_at_last_decision_without_licence_step_lands_on_conclude():
    assert walk(ALLOWANCE, 2, R.COMMUNITY_WORKER, R.HANDLER, R.LEADER)[-1] == (S.APPROVED, "conclude")


@pytest.mark.parametrize(
    ("steps", "index"), [(PHYSICIAN, 2), (PLASMA, 2), ((ACC, REVIEW, CONCLUDE), 1), ((PRE, ACC), None), ((), None)]
)
def test_accept_points_at_first_step_after_intake(steps, index):
    facts = CaseFacts(S.SUBMITTED, steps=steps, step_index=0)
    assert transition(facts, A.ACCEPT, staff(R.ACCEPTOR)).step_index == index


@pytest.mark.parametrize(("steps", "index"), [(PHYSICIAN, 0), ((), None)])
def test_submit_points_at_first_step(steps, index):
    assert transition(CaseFacts(S.DRAFT, steps=steps), A.SUBMIT, APPLICANT).step_index == index


@pytest.mark.parametrize(("index", "after"), [(4, 5), (5, 5)])  # past make_licence; elsewhere it stays
def test_issue_licence_moves_past_make_licence(index, after):
    out = run(S.APPROVED, A.ISSUE_LICENCE, step_index=index)
    assert (out.status, out.step_index) == (S.APPROVED, after)


@pytest.mark.parametrize("status", [S.ACCEPTED, S.SUSPENDED])
def test_extend_adds_days_and_keeps_status(status):
    out = run(status, A.EXTEND, extension_days=2)
    assert (out.status, out.extension_days) == (status, 5)


def test_request_supplement_counts_the_notice():
    out = run(S.SUBMITTED, A.REQUEST_SUPPLEMENT)
    assert (out.status, out.supplement_count) == (S.SUPPLEMENT_REQUESTED, 1)


@pytest.mark.parametrize(("status", "action"), [(S.APPROVED, A.CONCLUDE), (S.CONCLUDED, A.DELIVER)])
def test_conclude_and_deliver_clear_step_pointer(status, action):
    assert run(status, action, step_index=5).step_index is None


# ---------------------------------------------------------------------------------------------------- offers, clock
@pytest.mark.parametrize(
    ("status", "index", "actor", "offered"),
    [
        (S.DRAFT, None, APPLICANT, {A.SUBMIT}),
        (S.SUBMITTED, 0, APPLICANT, {A.WITHDRAW}),
        (S.SUPPLEMENT_REQUESTED, 0, APPLICANT, {A.SUBMIT, A.WITHDRAW}),
        (S.SUBMITTED, 0, staff(R.WINDOW_CLERK), {A.ACCEPT, A.NOT_ACCEPT, A.REQUEST_SUPPLEMENT}),
        (S.SUBMITTED, 0, staff(R.HANDLER), set()),
        (S.ACCEPTED, 2, APPLICANT, set()),
        (S.ACCEPTED, 2, staff(R.HANDLER), {A.APPROVE, A.DENY, A.SUSPEND, A.EXTEND}),
        (S.ACCEPTED, 2, staff(R.LEADER), {A.ABORT}),
        (S.ACCEPTED, 3, staff(R.LEADER), {A.APPROVE, A.DENY, A.ABORT}),
        (S.SUSPENDED, 2, staff(R.HANDLER), {A.RESUME, A.EXTEND}),
        (S.APPROVED, 4, staff(R.LICENCE_MAKER), {A.ISSUE_LICENCE, A.CONCLUDE}),
        (S.APPROVED, 4, staff(R.LEADER), {A.ABORT, A.REVOKE}),
        (S.CONCLUDED, None, staff(R.DISPATCH_CLERK), {A.DELIVER}),
        (S.DELIVERED, None, EVERYONE, set()),
        (S.ACCEPTED, 2, SYSTEM, set()),
    ],
)
def test_allowed_actions_offers_exactly_what_the_actor_may_do(status, index, actor, offered):
    actions = allowed_actions(CaseFacts(status, steps=PHYSICIAN, step_index=index), actor)
    assert set(actions) == offered and len(actions) == len(offered)


@pytest.mark.parametrize("actor", [APPLICANT, SYSTEM, EVERYONE, *(staff(r) for r in Role)], ids=actor_id)
def test_allowed_actions_agrees_with_transition(actor):
    for status in Status:
        facts = CaseFacts(status, steps=PHYSICIAN, step_index=3)
        offered = set(allowed_actions(facts, actor))
        for action in Action:
            try:
                transition(facts, action, actor, Params())
                passes = True
            except (InvalidTransition, Forbidden):
                passes = False
            except PreconditionFailed:
                passes = True
            assert (action in offered) == passes, (status, action)


# fmt: off
PAUSE_CASES = [
    (S.SUSPENDED, REVIEW, True), ("suspended", None, True), (S.ACCEPTED, REVIEW, False), (S.ACCEPTED, None, False),
    (S.ACCEPTED, ONSITE_PAUSED, True), (S.ACCEPTED, EXPERT_PAUSED, True),
    (S.APPROVED, replace(MAKE, counts_toward_limit=False), True), (S.APPROVED, MAKE, False),
    (S.SUBMITTED, PRE, False),  # before acceptance the clock is not running at all
    (S.CONCLUDED, ONSITE_PAUSED, False),
]
# fmt: on


@pytest.mark.parametrize(("status", "step", "paused"), PAUSE_CASES)
def test_clock_paused(status, step, paused):
    assert clock_paused(status, step) is paused
