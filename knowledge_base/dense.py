"""Optional dense re-ranking: a transformers encoder loaded from a local directory (``WEIJIAN_EMBED_MODEL``).

The encoder turns a text into the mean of its last hidden states over the real (non-padding) tokens, scaled to
unit length, so a dot product is the cosine. Entries are encoded at index build (each phrasing: question and
similar questions), cached by text so a rebuild after a publish encodes only what changed; the query is encoded
per search. Only the lexical top-N are re-ranked (see ``knowledge_base.index``), so a search costs one query
encoding plus a few hundred dot products whatever the size of the knowledge base.

Nothing is fetched: transformers is told to stay offline and to read only the given directory. A configured path
that does not load is an error at start-up (``EmbedModelError``), never a silent fallback to lexical search.
torch and transformers are an optional extra (``pip install -e '.[embed]'``); without a model configured they
are never imported.
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


class Vectors:
    """Embeddings cached by text for one encoder: a rebuild after a publish encodes only new or edited texts."""

    def __init__(self, encoder: Encoder) -> None:
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

    def __init__(self, encoder: Encoder, size: int = 2048) -> None:
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
        with self._lock:
            self._cache[text] = vec
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return vec

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()


class Dense:
    """What an index needs for re-ranking: the vector cache and the fusion settings.

    Fusion: ``score = (1 - weight) * lexical + weight * max(0, cosine)`` for the ``top_n`` entries with the best
    lexical score (cosine of the query with the entry's closest phrasing); the others keep ``(1 - weight) *
    lexical``, which is below every re-ranked one, so the order stays consistent and scores stay in 0..1."""

    def __init__(self, encoder: Encoder, *, weight: float = 0.3, top_n: int = 30) -> None:
        if not 0.0 <= weight <= 1.0:
            raise EmbedModelError(f"WEIJIAN_EMBED_WEIGHT={weight}: must be between 0 and 1")
        if top_n < 1:
            raise EmbedModelError(f"WEIJIAN_EMBED_TOP_N={top_n}: must be at least 1")
        self.vectors = Vectors(encoder)
        self.queries = QueryCache(encoder)
        self.weight = weight
        self.top_n = top_n

    @property
    def encoder(self) -> Encoder:
        return self.vectors.encoder


def from_settings(settings: Any) -> Dense | None:
    """The configured re-ranker, or None when ``embed_model`` is unset (lexical search only, as without torch)."""
    path = getattr(settings, "embed_model", None)
    if not path:
        return None
    encoder = Encoder(path, threads=settings.embed_threads)
    return Dense(encoder, weight=settings.embed_weight, top_n=settings.embed_top_n)
