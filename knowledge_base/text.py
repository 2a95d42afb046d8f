"""Turning text into index terms: normalisation, jieba words (with a user dictionary and the synonym table),
character bigrams (which still match when a word is mistyped: 护仕注册 shares 注册 and 护 with 护士注册) and
pinyin syllable bigrams (which match the wrong character a pinyin keyboard offered: 职业/执业 are both zhi-ye,
住册/注册 zhu-ce; with the usual fuzzy pairs z/zh, c/ch, s/sh, n/l, -in/-ing, -en/-eng, -an/-ang folded, so
申述/申诉 and 登计/登记 meet too)."""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Iterable

import jieba
from pypinyin import lazy_pinyin

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


# Clause boundaries of a message: sentence and clause punctuation (after NFKC, so full-width marks are ASCII or
# CJK) and whitespace.
_CLAUSE_BREAK = re.compile(r"[,.?!;:\s、，。？！；：…]+")


def question_tail(text: str, clauses: int = 2, at_least: int = 3) -> str | None:
    """The last ``clauses`` clauses of a message of ``at_least`` clauses or more, else None.

    Applicants who write a long message tell the situation first and ask last ("我在湖南注册的，现在来深圳工作，
    要不要重新注册"): the situation's words match many entries, the question's few. Clauses of one character are
    not counted. Voice input without punctuation is one clause, and keeps its whole text."""
    parts = [p for p in _CLAUSE_BREAK.split(normalize(text)) if len(p) >= 2]
    if len(parts) < at_least:
        return None
    return "，".join(parts[-clauses:])


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
                # Latin words stay out: jieba keeps a Latin run whole by itself, and a dictionary entry "dr"
                # would cut "drop" into dr + op.
                if len(w) >= 2 and w not in _WORDS and not w.isascii():
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

    def surface_words(self, text: str) -> list[str]:
        """jieba's cut as typed (no stopwords dropped, no synonyms mapped): the vocabulary of spelling correction."""
        return self._cut(normalize(text))

    def synonym_words(self) -> set[str]:
        """Every term and canonical of the synonym table."""
        return set(self._synonym_strings) | set(self._synonym_strings.values())

    def words(self, text: str) -> list[str]:
        """Index terms of a text: jieba's search-mode cut, stopwords dropped, synonyms mapped to their canonical."""
        out: list[str] = []
        for token in self._search_cut(normalize(text)):
            if token in STOPWORDS:
                continue
            canonical = self._synonyms.get(token)
            out.extend(canonical if canonical else (token,))
        return out

    def _search_cut(self, text: str) -> list[str]:
        """jieba's search-mode cut (each word preceded by its dictionary 2- and 3-grams), except that a synonym
        term stands alone: 第一次 (→ 首次) does not also bring 第一 and 一次, which would count the idea twice
        and a colloquial form's fragments besides."""
        tok = self._tok
        out: list[str] = []
        for w in tok.cut(text):
            if not w.strip() or _PUNCT.fullmatch(w):
                continue
            if w not in self._synonyms:
                for n in (2, 3):
                    if len(w) > n:
                        out.extend(g for i in range(len(w) - n + 1) if tok.FREQ.get(g := w[i : i + n]))
            out.append(w)
        return out

    def canonical_text(self, text: str) -> str:
        """The text with synonym terms replaced by their canonical form (for the character channel)."""
        text = normalize(text)
        for term in sorted(self._synonym_strings, key=len, reverse=True):
            if term in text:
                if term.isascii():  # a Latin term only as a whole word: ct in "ct机", not in "select"
                    text = re.sub(rf"(?<![a-z0-9]){re.escape(term)}(?![a-z0-9])", self._synonym_strings[term], text)
                else:
                    text = text.replace(term, self._synonym_strings[term])
        return text


def char_bigrams(text: str) -> list[str]:
    """Overlapping character bigrams of the CJK letters and digits, single characters for a one-character text."""
    chars = _KEEP_CHARS.findall(normalize(text))
    if len(chars) < 2:
        return chars
    return [chars[i] + chars[i + 1] for i in range(len(chars) - 1)]


_FUZZY_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("l", "n"))
_FUZZY_FINALS = (("ing", "in"), ("eng", "en"), ("ang", "an"))


def _fuzzy(syllable: str) -> str:
    for a, b in _FUZZY_INITIALS:
        if syllable.startswith(a):
            syllable = b + syllable[len(a) :]
            break
    for a, b in _FUZZY_FINALS:
        if syllable.endswith(a):
            return syllable[: -len(a)] + b
    return syllable


def pinyin_bigrams(text: str) -> list[str]:
    """Bigrams of the toneless, fuzzy-folded pinyin of the CJK letters and digits (pypinyin picks the reading of
    polyphones from the words around them)."""
    chars = "".join(_KEEP_CHARS.findall(normalize(text)))
    syllables = [_fuzzy(p) for p in lazy_pinyin(chars)] if chars else []
    if len(syllables) < 2:
        return syllables
    return [syllables[i] + "-" + syllables[i + 1] for i in range(len(syllables) - 1)]


def _syllables(chars: str) -> list[str]:
    return [_fuzzy(p) for p in lazy_pinyin(chars)]


class PinyinCorrector:
    """Query-side correction of pinyin-keyboard slips to words the knowledge base uses: 才料 → 材料, 申情 → 申请,
    住册 → 注册. The pinyin channel already matches such slips by sound; this puts the right WORD back, so the
    word channels (and the aspect patterns: 才料 asks for 材料) see it too.

    Precision first, since a wrong correction hurts a question that was fine. A span of 2–4 characters is
    replaced only when (a) it is made of whole jieba tokens (no dictionary-only cut) none of which is a known word
    (a knowledge-base word, or a jieba word of some frequency: 职业 stays 职业, 去别的 is not read as 区别),
    (b) its fuzzy-folded pinyin is that of exactly one knowledge-base word, (c) it shares a character with that
    word (one slipped character, the common case), and (d) the slipped characters are not function words
    (想在 is not 现在, 先在 not 现在)."""

    MIN_JIEBA_FREQ = 50
    # Characters common enough on their own that reading them as a slip does more harm than good.
    FUNCTION_CHARS = frozenset(
        "的了是在先想去上下要有也就都和跟把被给让对从到来这那我你他她们个一不没很还又再吗呢吧啊办交带开用能可"
    )

    def __init__(self, words: Iterable[str]) -> None:
        freq = _tokenizer().FREQ
        self.words = {w for w in words if 2 <= len(w) <= 4 and _CJK_ONLY.fullmatch(w) and (w in _WORDS or freq.get(w))}
        by_sound: dict[str, set[str]] = {}
        for w in self.words:
            by_sound.setdefault("-".join(_syllables(w)), set()).add(w)
        self._by_sound = {k: next(iter(v)) for k, v in by_sound.items() if len(v) == 1}
        # Corrected runs by run: a long message's last clauses are searched again (index.TAIL_WEIGHT), and the same
        # questions come again and again. Bounded; emptied when full.
        self._runs: dict[str, str] = {}

    def _known(self, token: str) -> bool:
        return token in self.words or (_tokenizer().FREQ.get(token) or 0) >= self.MIN_JIEBA_FREQ

    def correct(self, text: str) -> str:
        """``text`` (normalised) with slips replaced; unchanged when there is nothing to correct."""
        if not self._by_sound:
            return text
        return _CJK_RUN.sub(lambda m: self._corrected(m.group()), text)

    RUNS_CACHED = 4096

    def _corrected(self, run: str) -> str:
        got = self._runs.get(run)
        if got is None:
            if len(self._runs) >= self.RUNS_CACHED:
                self._runs.clear()
            got = self._runs[run] = self._correct_run(run)
        return got

    def clear(self) -> None:
        """Forget the corrected runs (benchmarks measure cold searches)."""
        self._runs.clear()

    def _correct_run(self, run: str) -> str:
        sounds = _syllables(run)
        if len(sounds) != len(run):  # pypinyin kept something unexpected whole: leave the run alone
            return run
        tokens = _tokenizer().lcut(run, HMM=False)
        starts = [0]
        for t in tokens:
            starts.append(starts[-1] + len(t))
        out: list[str] = []
        j = 0
        while j < len(tokens):
            for m in range(min(4, len(tokens) - j), 0, -1):  # spans of m whole tokens, longest first
                a, b = starts[j], starts[j + m]
                span = run[a:b]
                if not 2 <= len(span) <= 4 or any(len(t) > 1 and self._known(t) for t in tokens[j : j + m]):
                    continue
                if self._known(span):
                    continue
                word = self._by_sound.get("-".join(sounds[a:b]))
                slipped = {c for c, w in zip(span, word or "", strict=False) if c != w}
                if word and word != span and set(word) & set(span) and not slipped & self.FUNCTION_CHARS:
                    out.append(word)
                    j += m
                    break
            else:
                out.append(tokens[j])
                j += 1
        return "".join(out)


_CJK_ONLY = re.compile(r"[\u4e00-\u9fff]+")
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")
