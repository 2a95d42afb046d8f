"""A thin test client for the mobile API: logs people in, fills forms with valid values, walks cases."""

from __future__ import annotations

from typing import Any

import httpx
from stdnum import luhn
from stdnum.cn import ric, uscc

from tests.support import images

DEMO_PASSWORD = "test-Passw0rd"
ITEM = "GD-WJ-XK-0001"  # 医师执业注册（首次注册）: review → leader_sign → make_licence → conclude


def valid_ric(body: str = "11010519491231002") -> str:
    return body + ric.calc_check_digit(body + "0")  # stdnum wants a placeholder check digit


def valid_uscc(body: str = "91440101MA59ABCD1") -> str:
    return body + uscc.calc_check_digit(body)


def valid_account(body: str = "622202020000000000") -> str:
    return body + luhn.calc_check_digit(body)


def value_for(field: dict[str, Any]) -> Any:
    kind, validator = field.get("type"), field.get("validator")
    if kind == "select":
        return field["options"][0]
    if kind == "date":
        return "1990-01-01"
    if kind == "phone":
        return "13800138000"
    if kind == "id_number":
        return valid_ric()
    if kind == "number":
        return 1
    if validator == "email":
        return "doctor@example.com"
    if validator == "GB 32100":
        return valid_uscc()
    if validator == "Luhn":
        return valid_account()
    if kind == "text":
        return "广州市天河区体育西路1号"
    return "张三"


class Api:
    def __init__(self, client: httpx.AsyncClient, app: Any) -> None:
        self.client = client
        self.app = app
        self._staff_tokens: dict[str, dict[str, str]] = {}

    # ------------------------------------------------------------------ people
    async def applicant(self, code: str = "alice") -> dict[str, str]:
        r = await self.client.post("/api/v1/auth/wechat-login", json={"code": code})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    async def staff(self, username: str) -> dict[str, str]:
        if username not in self._staff_tokens:
            r = await self.client.post(
                "/api/v1/auth/staff-login", json={"username": username, "password": DEMO_PASSWORD}
            )
            assert r.status_code == 200, r.text
            self._staff_tokens[username] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        return self._staff_tokens[username]

    # ------------------------------------------------------------------ applicant side
    async def item(self, code: str = ITEM) -> dict[str, Any]:
        r = await self.client.get(f"/api/v1/items/{code}")
        assert r.status_code == 200, r.text
        return r.json()

    async def new_case(self, who: dict[str, str], code: str = ITEM) -> dict[str, Any]:
        r = await self.client.post("/api/v1/cases", json={"item_code": code}, headers=who)
        assert r.status_code == 201, r.text
        return r.json()

    async def fill(self, who: dict[str, str], case_id: int, code: str = ITEM, **overrides: Any) -> dict[str, Any]:
        item = await self.item(code)
        form = {f["key"]: value_for(f) for f in item["form"]["fields"]}
        form.update(overrides)
        delivery = {"material_submission": item["submission_methods"][0], "pickup": item["delivery_methods"][0]}
        r = await self.client.patch(f"/api/v1/cases/{case_id}", json={"form": form, "delivery": delivery}, headers=who)
        assert r.status_code == 200, r.text
        return r.json()

    async def upload(
        self,
        who: dict[str, str],
        case_id: int,
        material_type: str,
        data: bytes | None = None,
        filename: str = "scan.jpg",
        content_type: str = "image/jpeg",
    ) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/cases/{case_id}/materials",
            headers=who,
            data={"material_type": material_type},
            files={"file": (filename, data if data is not None else images.jpeg(), content_type)},
        )

    async def upload_required(self, who: dict[str, str], case_id: int, code: str = ITEM) -> None:
        item = await self.item(code)
        for m in item["materials"]:
            if m["required"]:
                r = await self.upload(who, case_id, m["material_id"])
                assert r.status_code == 201, r.text

    async def submitted_case(self, who: dict[str, str], code: str = ITEM) -> dict[str, Any]:
        case = await self.new_case(who, code)
        await self.fill(who, case["id"], code)
        await self.upload_required(who, case["id"], code)
        r = await self.client.post(f"/api/v1/cases/{case['id']}/submit", headers=who)
        assert r.status_code == 200, r.text
        return r.json()

    async def detail(self, who: dict[str, str], case_id: int) -> dict[str, Any]:
        r = await self.client.get(f"/api/v1/cases/{case_id}", headers=who)
        assert r.status_code == 200, r.text
        return r.json()

    # ------------------------------------------------------------------ staff side
    async def act(self, username: str, case_id: int, action: str, **body: Any) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/staff/cases/{case_id}/actions",
            json={"action": action, **body},
            headers=await self.staff(username),
        )

    async def act_ok(self, username: str, case_id: int, action: str, **body: Any) -> dict[str, Any]:
        r = await self.act(username, case_id, action, **body)
        assert r.status_code == 200, r.text
        return r.json()
