"""办事指南 derived from the catalogue: what the bot says about an item's materials, time limit, fee, conditions
and where to apply is read from the item itself, so an answer about an item can never disagree with it."""

from __future__ import annotations

from typing import Any

ASPECTS = ("materials", "time_limit", "fee", "conditions", "where")


def guide(code: str, name: str, data: dict[str, Any], material_names: dict[str, str]) -> dict[str, Any]:
    materials = [
        {
            "material_id": m["material_id"],
            "name": material_names.get(m["material_id"], m["material_id"]),
            "requirement": m.get("requirement"),
            "form": m.get("form"),
            "required": bool(m.get("required")),
            "e_licence_ok": bool(m.get("e_licence_ok")),
        }
        for m in data.get("materials", [])
    ]
    fee = data.get("fee") or {}
    return {
        "code": code,
        "name": name,
        "summary": " ".join(str(data.get("guide") or "").split()),
        "materials": materials,
        "legal_limit_working_days": data.get("legal_limit_working_days"),
        "promised_limit_working_days": data.get("promised_limit_working_days"),
        "fee": {"charged": bool(fee.get("charged")), "description": fee.get("description") or ""},
        "conditions": list(data.get("conditions", [])),
        "implementing_body": data.get("implementing_body"),
        "implementing_note": data.get("implementing_note"),
        "submission_methods": list(data.get("submission_methods", [])),
        "online_available": bool(data.get("online_available")),
        "max_onsite_visits": data.get("max_onsite_visits"),
    }


def answer(g: dict[str, Any], aspect: str) -> str:
    """One aspect of the guide as a chat answer."""
    name = g["name"]
    if aspect == "materials":
        required = [m for m in g["materials"] if m["required"]]
        optional = [m for m in g["materials"] if not m["required"]]
        lines = [f"办理“{name}”需要提交以下材料："]
        for i, m in enumerate(required, 1):
            hint = "（已纳入电子证照库的可授权调用，免提交）" if m["e_licence_ok"] else ""
            lines.append(f"{i}. {m['name']}（{m['form']}）{hint}")
        if optional:
            lines.append("视情况提交：" + "；".join(f"{m['name']}：{m['requirement']}" for m in optional))
        return "\n".join(lines)
    if aspect == "time_limit":
        return (
            f"“{name}”法定办结时限为{g['legal_limit_working_days']}个工作日，本平台承诺"
            f"{g['promised_limit_working_days']}个工作日内办结，从受理之日起计算，补正材料的时间不计入。"
        )
    if aspect == "fee":
        return f"“{name}”{'收费' if g['fee']['charged'] else '不收费'}：{g['fee']['description']}。".replace(
            "。。", "。"
        )
    if aspect == "conditions":
        return f"申请“{name}”应当符合以下条件：\n" + "\n".join(f"{i}. {c}" for i, c in enumerate(g["conditions"], 1))
    if aspect == "where":
        ways = "、".join(g["submission_methods"])
        online = "可全程网上办理，" if g["online_available"] else ""
        note = f"{g['implementing_note']}" if g.get("implementing_note") else ""
        return f"“{name}”由{g['implementing_body']}办理，{online}提交方式：{ways}。{note}"
    return g["summary"] or f"“{name}”的办事指南暂无摘要。"
