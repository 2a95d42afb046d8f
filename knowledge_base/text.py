"""Turning text into index terms: normalisation, jieba words (with a user dictionary and the synonym table) and
character bigrams (which still match when a word is mistyped: 护仕注册 shares 注册 and 护 with 护士注册)."""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Iterable

import jieba

jieba.setLogLevel(logging.WARNING)

# Function words and politeness that say nothing about which entry is meant. Words that carry the question's
# aspect (多久, 多少钱, 哪里, 材料) are kept on purpose.
STOPWORDS = frozenset(
    [
        "的",
        "了",
        "吗",
        "呢",
        "啊",
        "吧",
        "呀",
        "嘛",
        "哦",
        "哈",
        "么",
        "我",
        "我们",
        "你",
        "你们",
        "您",
        "他",
        "她",
        "请问",
        "请",
        "问",
        "一下",
        "下",
        "是",
        "在",
        "有",
        "和",
        "与",
        "及",
        "或",
        "还",
        "也",
        "就",
        "都",
        "这个",
        "那个",
        "这",
        "那",
        "想",
        "想要",
        "要",
        "会",
        "能",
        "可以",
        "可",
        "吧",
        "个",
        "些",
        "给",
        "把",
        "被",
        "让",
        "对",
        "从",
        "到",
        "去",
        "来",
        "好",
        "请教",
        "麻烦",
        "谢谢",
        "您好",
        "你好",
        "怎么样",
        "一个",
        "啥",
        "么",
        "如果",
        "就是",
        "然后",
        "现在",
        "其实",
        "自己",
        "已经",
        "还是",
        "但是",
        "因为",
        "所以",
        "比较",
        "一直",
        "这样",
        "那样",
        "哪个",
    ]
)
_PUNCT = re.compile(r"[\W_]+", re.UNICODE)
_KEEP_CHARS = re.compile(r"[0-9a-z\u4e00-\u9fff]")


def normalize(text: str) -> str:
    """NFKC (full-width letters and digits become ASCII), lower case, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


_TOKENIZER: jieba.Tokenizer | None = None
_WORDS: set[str] = set()
_LOCK = threading.RLock()


def _tokenizer() -> jieba.Tokenizer:
    """One jieba tokenizer per process, apart from jieba's global one (loading its dictionary takes a second)."""
    global _TOKENIZER
    with _LOCK:
        if _TOKENIZER is None:
            tok = jieba.Tokenizer()
            tok.initialize()
            _TOKENIZER = tok
        return _TOKENIZER


class Analyzer:
    """The process's jieba tokenizer with our user dictionary, plus a synonym map of its own.

    The user dictionary only ever grows (item, material and synonym words; an extra word does no harm);
    each index build makes a new Analyzer with the synonyms of that moment, so an index and the queries it
    answers always agree. Both are cheap: the index is rebuilt on publish without a restart."""

    def __init__(self) -> None:
        self._synonyms: dict[str, tuple[str, ...]] = {}
        self._synonym_strings: dict[str, str] = {}

    @property
    def _tok(self) -> jieba.Tokenizer:
        return _tokenizer()

    def add_words(self, words: Iterable[str]) -> None:
        with _LOCK:
            for w in words:
                w = normalize(w).replace(" ", "")
                if len(w) >= 2 and w not in _WORDS:
                    _WORDS.add(w)
                    self._tok.add_word(w, freq=50_000)

    def set_synonyms(self, pairs: Iterable[tuple[str, str]]) -> None:
        pairs = [(normalize(t).replace(" ", ""), normalize(c).replace(" ", "")) for t, c in pairs]
        self.add_words([w for pair in pairs for w in pair])
        mapping: dict[str, tuple[str, ...]] = {}
        strings: dict[str, str] = {}
        for term, canonical in pairs:
            if term and canonical and term != canonical:
                mapping[term] = tuple(self._cut(canonical))
                strings[term] = canonical
        self._synonyms, self._synonym_strings = mapping, strings

    def _cut(self, text: str) -> list[str]:
        return [t for t in self._tok.cut_for_search(text) if t.strip() and not _PUNCT.fullmatch(t)]

    def words(self, text: str) -> list[str]:
        """Index terms of a text: jieba's search-mode cut, stopwords dropped, synonyms mapped to their canonical."""
        out: list[str] = []
        for token in self._cut(normalize(text)):
            if token in STOPWORDS:
                continue
            canonical = self._synonyms.get(token)
            out.extend(canonical if canonical else (token,))
        return out

    def canonical_text(self, text: str) -> str:
        """The text with synonym terms replaced by their canonical form (for the character channel)."""
        text = normalize(text)
        for term in sorted(self._synonym_strings, key=len, reverse=True):
            if term in text:
                text = text.replace(term, self._synonym_strings[term])
        return text


def char_bigrams(text: str) -> list[str]:
    """Overlapping character bigrams of the CJK letters and digits, single characters for a one-character text."""
    chars = _KEEP_CHARS.findall(normalize(text))
    if len(chars) < 2:
        return chars
    return [chars[i] + chars[i + 1] for i in range(len(chars) - 1)]
