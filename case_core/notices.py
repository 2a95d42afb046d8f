"""回执通知书: the notices a case produces (受理、补正、不予受理、决定、办结…), in Chinese, from the case's facts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from case_core.timeutil import local_date

KINDS: dict[str, tuple[str, str]] = {
    # action -> (kind, title)
    "accept": ("acceptance", "受理通知书"),
    "request_supplement": ("supplement", "补正材料通知书"),
    "not_accept": ("not_accepted", "不予受理通知书"),
    "deny": ("denial", "不予许可决定书"),
    "approve": ("approval", "准予许可决定书"),
    "suspend": ("suspension", "办件挂起告知书"),
    "extend": ("extension", "延期办理告知书"),
    "abort": ("abort", "办件中止通知书"),
    "revoke": ("revocation", "撤销办件通知书"),
    "issue_licence": ("licence", "证照签发通知"),
    "conclude": ("conclusion", "办结通知书"),
}


@dataclass(frozen=True)
class NoticeText:
    kind: str
    title: str
    body: str


def compose(
    action: str,
    *,
    serial_no: str,
    item_name: str,
    applicant_name: str | None,
    now: datetime,
    opinion: str | None = None,
    defects: list[dict[str, Any]] | None = None,
    days: int | None = None,
    due: str | None = None,
    final_approval: bool = False,
    licence_no: str | None = None,
) -> NoticeText | None:
    """The notice an action produces, or None (approve only produces one when it is the final decision)."""
    if action not in KINDS or (action == "approve" and not final_approval):
        return None
    kind, title = KINDS[action]
    who = applicant_name or "申请人"
    day = f"{local_date(now):%Y年%m月%d日}"
    head = f"{who}：\n您于本平台申请的“{item_name}”（申办流水号 {serial_no}）"
    reason = f"理由：{opinion}。" if opinion else ""
    if action == "accept":
        body = f"{head}材料齐全、符合法定形式，已于{day}受理。" + (f"承诺于{due}前办结。" if due else "")
    elif action == "request_supplement":
        lines = "\n".join(f"{i}. {d['label']}：{d['reason']}" for i, d in enumerate(defects or [], 1))
        body = (
            f"{head}经审查，申请材料不齐全或不符合法定形式，现一次性告知需补正的全部内容：\n{lines}\n"
            "请按要求补正后重新提交。补正期间不计入办理时限。"
        )
    elif action == "not_accept":
        body = f"{head}经审查，决定不予受理。{reason}如有异议，可依法申请行政复议或提起行政诉讼。"
    elif action == "deny":
        body = f"{head}经审查，决定不予许可。{reason}如有异议，可依法申请行政复议或提起行政诉讼。"
    elif action == "approve":
        body = f"{head}经审查，符合法定条件，决定准予许可。"
    elif action == "suspend":
        body = f"{head}因需开展现场检查等程序，自{day}起挂起，挂起期间不计入办理时限。{reason}"
    elif action == "extend":
        body = f"{head}因特殊原因需延长办理时限{days}个工作日。{reason}" + (f"现承诺于{due}前办结。" if due else "")
    elif action == "abort":
        body = f"{head}因特殊情况已中止办理。{reason}"
    elif action == "revoke":
        body = f"{head}已撤销。{reason}"
    elif action == "issue_licence":
        body = f"{head}已签发电子证照（证照编号 {licence_no}），可在“我的证照”中查看。"
    else:  # conclude
        body = f"{head}已于{day}办结。"
    return NoticeText(kind=kind, title=title, body=body)
