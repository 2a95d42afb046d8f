"""What a question asks ABOUT, apart from which item it is about: materials, time limit, fee, validity, where,
conditions, … ("护士注册要带啥" and "护士注册多久批" name the same item; only the aspect tells them apart).

Word channels weigh the rare item words (护士, 血浆站) far above the common aspect words (材料, 多久, 几年) that
occur in dozens of entries, so between the entries of one item the aspect decides too little. Here each aspect
is a small list of the ways applicants ask it (patterns over the synonym-mapped text, so the synonym table's
多久 → 时限 counts as 时限); an entry's aspect profile is the share of its phrasings that ask each aspect, and a
query scores each entry by how much of its own aspects the entry shares. A query that asks no known aspect
scores every entry 0 (the channel abstains).

The patterns are general Chinese question forms, written from the catalogue's guide fields (materials, limits,
fees, validity, where, conditions) and ordinary colloquial variants, not from evaluation questions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

# Chinese measure/question words around an aspect: 什么/啥/哪些/些 (what), 多少/几 (how many).
_WHAT = r"(?:什么|啥|哪些|哪几样|些)"

ASPECTS: dict[str, str] = {
    # what to bring or submit
    "materials": rf"材料|资料|文件|清单|证明材料|(?:带|交|准备|提交|备齐|备)(?:好)?{_WHAT}|要{_WHAT}(?:证|东西)",
    # how long the procedure takes, when the result comes
    "time_limit": r"时限|多久|多长时间|多长|几天|多少天|几个工作日|工作日|多快|批下来|办下来|下证|出证|拿到证"
    r"|到账|等多",
    # money
    "fee": r"费用|多少钱|收费|要钱|交钱|免费|工本费|邮费|付费|缴费|交费|领多少|拿多少|补贴|标准",
    # how long a licence stays valid, periodic checks
    "validity": r"有效期|有效|几年|多少年|年限|管几年|管到|用几年|能用多久|校验|年审|复核|复检|到哪年|到期日",
    # renewing a licence
    "renewal": r"延续|续期|续证|续上|续|到期|届满",
    # already expired (what now?) — apart from "快到期" (when to renew)
    "expired": r"过期|失效|过了期|已经到期|到期了没|早就到期|满了没",
    # when to act: ahead of a date, at what point
    "when": r"什么时候|何时|提前|快到期|快过期|快满|即将到期|到期前|之前多久",
    # where / which office
    "where": r"哪里|在哪|去哪|哪儿|什么地方|入口|哪个部门|哪一级|哪级|找谁|谁批|谁审|哪家|窗口",
    # who qualifies, what is required
    "conditions": r"条件|资格|要求|够不够|才能|才行|能不能申请|能申请|可以申请|几级|什么样的|谁能|哪些单位|哪些家庭",
    # changing what was filed or issued
    "change": r"变更|更改|修改|改成|改过来|改一下|换成|写错|填错|打错|弄错|有误|不对",
    # withdrawing
    "withdraw": r"撤回|撤销|撤掉|取消|不想办|不办了|放弃",
    # lost documents
    "lost": r"遗失|丢了|丢失|弄丢|搞丢|找不到|不见了|补发|补办",
    # progress of one's own case
    "progress": r"进度|办理进度|到哪一步|审到哪|到哪了|状态",
}
_COMPILED = {name: re.compile(p) for name, p in ASPECTS.items()}
NAMES = tuple(ASPECTS)


def aspects_of(text: str) -> np.ndarray:
    """0/1 per aspect in ``NAMES`` order: which aspects the (normalised, synonym-mapped) text asks."""
    return np.array([1.0 if rx.search(text) else 0.0 for rx in _COMPILED.values()])


class AspectProfile:
    """Per entry, the share of its phrasings that ask each aspect (entries × aspects)."""

    def __init__(self, phrasings_per_entry: Sequence[Sequence[str]]) -> None:
        rows = [
            np.mean([aspects_of(t) for t in texts], axis=0) if texts else np.zeros(len(NAMES))
            for texts in phrasings_per_entry
        ]
        self.matrix = np.array(rows, dtype=np.float64).reshape(len(rows), len(NAMES))

    def score(self, text: str) -> np.ndarray:
        """Mean, over the query's aspects, of each entry's share of that aspect (0 for all when none is asked)."""
        q = aspects_of(text)
        n = q.sum()
        if n == 0 or not len(self.matrix):
            return np.zeros(len(self.matrix))
        return (self.matrix @ q) / n
