"""What can be told, to whom, on which channels, in what order, and the default Chinese texts.

Channels: ``inapp`` (站内信, always), ``wechat`` (mini-program subscribe message), ``wechat_mp`` (service-account
template message, staff), ``sms``, ``email``. The *chain* is the fallback order: the first channel the recipient
accepts is tried; when it fails for good (the user refused subscribe messages, retries exhausted) the next one is.
"""

from __future__ import annotations

from dataclasses import dataclass

from case_core.domain.states import Action

CHANNELS = ("inapp", "wechat", "wechat_mp", "sms", "email")
# Applicants choose among these; in-app is always on (it is where the case page shows its messages).
APPLICANT_CHOICES = ("wechat", "sms", "email")
# Staff and leaders likewise, with the service account's template messages instead of subscribe messages. A staff
# member who chose nothing gets each event's chain as it is (their contacts decide which channel reaches them).
STAFF_CHOICES = ("wechat_mp", "sms", "email")


@dataclass(frozen=True)
class EventSpec:
    name: str
    label: str
    audience: str  # applicant / staff / leader
    chain: tuple[str, ...]
    urgent: bool = False
    # Default texts: {variable} placeholders, Chinese.
    title: str = ""
    body: str = ""


COMMON = ("serial_no", "item_name", "applicant_name", "case_id")

EVENTS: dict[str, EventSpec] = {
    e.name: e
    for e in (
        EventSpec("submitted", "申请已提交", "applicant", ("wechat", "sms"), title="申请已提交",
                  body="您申请的{item_name}（办件编号{serial_no}）已提交，我们将尽快审核。"),
        EventSpec("accepted", "申请已受理", "applicant", ("wechat", "sms"), title="申请已受理",
                  body="您申请的{item_name}（办件编号{serial_no}）已受理，承诺{due}前办结。"),
        EventSpec("not_accepted", "申请不予受理", "applicant", ("wechat", "sms"), title="申请不予受理",
                  body="您申请的{item_name}（办件编号{serial_no}）不予受理，原因：{opinion}。"),
        EventSpec("supplement_requested", "请补正材料", "applicant", ("wechat", "sms"), title="请补正材料",
                  body="您申请的{item_name}（办件编号{serial_no}）需要补正：{opinion}。请登录小程序一次性补正。"),
        EventSpec("suspended", "办件已挂起", "applicant", ("wechat", "sms"), title="办件已挂起",
                  body="您申请的{item_name}（办件编号{serial_no}）因{opinion}暂停计时。"),
        EventSpec("resumed", "办件已恢复办理", "applicant", ("wechat", "sms"), title="办件已恢复办理",
                  body="您申请的{item_name}（办件编号{serial_no}）已恢复办理，预计{due}前办结。"),
        EventSpec("extended", "办理时限已延长", "applicant", ("wechat", "sms"), title="办理时限已延长",
                  body="您申请的{item_name}（办件编号{serial_no}）办理时限延长{days}个工作日，预计{due}前办结。"),
        EventSpec("approved", "审批通过", "applicant", ("wechat", "sms"), title="审批通过",
                  body="您申请的{item_name}（办件编号{serial_no}）已审批通过。"),
        EventSpec("denied", "不予许可", "applicant", ("wechat", "sms"), title="不予许可",
                  body="您申请的{item_name}（办件编号{serial_no}）不予许可，原因：{opinion}。"),
        EventSpec("licence_issued", "证照已签发", "applicant", ("wechat", "sms"), title="证照已签发",
                  body="您申请的{item_name}（办件编号{serial_no}）证照已签发，证照编号{licence_no}。"),
        EventSpec("concluded", "办件已办结", "applicant", ("wechat", "sms"), title="办件已办结",
                  body="您申请的{item_name}（办件编号{serial_no}）已办结，欢迎对本次服务进行评价。"),
        EventSpec("delivered", "证照已寄出或可领取", "applicant", ("wechat", "sms"), title="办理结果已送达",
                  body="您申请的{item_name}（办件编号{serial_no}）办理结果已出件，请留意查收。"),
        EventSpec("licence_expiring", "证照即将到期", "applicant", ("wechat", "sms", "email"), title="证照即将到期",
                  body="您的{licence_type}（证照编号{licence_no}）将于{valid_until}到期，还有{days_left}天，请及时办理延续。"),
        EventSpec("light_yellow", "办件即将超期（黄灯）", "staff", ("wechat_mp", "sms"), title="办件即将超期",
                  body="办件{serial_no}（{item_name}）将于{due}到期，请尽快办理。"),
        EventSpec("light_red", "办件已超期（红灯）", "staff", ("wechat_mp", "sms"), title="办件已超期",
                  body="办件{serial_no}（{item_name}）已于{due}超期，请立即办理。"),
        EventSpec("daily_briefing", "每日简报", "leader", ("email",), title="{department}每日办件简报（{day}）",
                  body="{department}{day}：收件{received}件，受理{accepted}件，办结{concluded}件，超期在办{overdue}件，"
                       "满意度{satisfaction}。"),
        EventSpec("followup", "差评回访", "staff", ("wechat_mp",), title="差评回访任务",
                  body="办件{serial_no}（{item_name}）评价为{level}星，请于{due}前完成回访。"),
    )
}  # fmt: skip

# Variables each event's templates may use (the check at save time).
VARIABLES: dict[str, frozenset[str]] = {
    name: frozenset(COMMON)
    | {
        "accepted": {"due"},
        "not_accepted": {"opinion"},
        "supplement_requested": {"opinion"},
        "suspended": {"opinion"},
        "resumed": {"due"},
        "extended": {"days", "due"},
        "denied": {"opinion"},
        "licence_issued": {"licence_no"},
        "licence_expiring": {"licence_type", "licence_no", "valid_until", "days_left"},
        "light_yellow": {"due"},
        "light_red": {"due"},
        "daily_briefing": {"department", "day", "received", "accepted", "concluded", "overdue", "satisfaction"},
        "followup": {"level", "due"},
    }.get(name, set())
    for name in EVENTS
}

# Timeline actions → events. ``approve`` only tells when the whole approval is through (to_status approved).
ACTION_EVENTS: dict[str, str] = {
    Action.SUBMIT: "submitted",
    Action.ACCEPT: "accepted",
    Action.NOT_ACCEPT: "not_accepted",
    Action.REQUEST_SUPPLEMENT: "supplement_requested",
    Action.SUSPEND: "suspended",
    Action.RESUME: "resumed",
    Action.EXTEND: "extended",
    Action.APPROVE: "approved",
    Action.DENY: "denied",
    Action.ISSUE_LICENCE: "licence_issued",
    Action.CONCLUDE: "concluded",
    Action.DELIVER: "delivered",
}
