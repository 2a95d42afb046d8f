"""Domain errors. Each carries a stable ``code``, an HTTP-ish ``status`` and a Chinese message for the applicant."""

from __future__ import annotations

from typing import Any


class CaseError(Exception):
    """Base of every error the case core raises on purpose; rendered by one handler in the API."""

    code = "case_error"
    status = 400

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or None


class NotFound(CaseError):
    code = "not_found"
    status = 404

    def __init__(self, what: str = "记录") -> None:
        super().__init__(f"{what}不存在或您无权查看")


class Forbidden(CaseError):
    code = "forbidden"
    status = 403

    def __init__(self, message: str = "您没有办理该操作的权限", **details: Any) -> None:
        super().__init__(message, **details)


class Unauthenticated(CaseError):
    code = "unauthenticated"
    status = 401

    def __init__(self, message: str = "请先登录") -> None:
        super().__init__(message)


class Conflict(CaseError):
    code = "conflict"
    status = 409

    def __init__(self, message: str = "该办件已被他人处理，请刷新后重试", **details: Any) -> None:
        super().__init__(message, **details)


class InvalidTransition(CaseError):
    code = "invalid_transition"
    status = 409

    def __init__(self, status: str, action: str) -> None:
        from case_core.domain.states import ACTION_LABELS, STATUS_LABELS

        super().__init__(
            f"办件当前状态为“{STATUS_LABELS.get(status, status)}”，不能执行“{ACTION_LABELS.get(action, action)}”",
            status=status,
            action=action,
        )


class PreconditionFailed(CaseError):
    """An allowed transition whose precondition does not hold (missing opinion, missing materials…)."""

    code = "precondition_failed"
    status = 422

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message, **details)
        self.code = code


class ValidationFailed(CaseError):
    code = "validation_failed"
    status = 422

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message, **details)


class FieldInvalid(ValidationFailed):
    """One or more form fields are invalid; ``details.fields`` maps each field key to its message."""

    code = "field_invalid"

    def __init__(self, fields: dict[str, str]) -> None:
        first = next(iter(fields.values()))
        super().__init__(first if len(fields) == 1 else f"有{len(fields)}项填写有误：{first}", fields=fields)


class FileRejected(ValidationFailed):
    """An upload we will not keep (corrupt, truncated, too many pixels or pages); ``code`` says which."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message, **details)
        self.code = code


class PayloadTooLarge(CaseError):
    code = "payload_too_large"
    status = 413


class UnsupportedMedia(CaseError):
    code = "unsupported_media_type"
    status = 415


class TooManyRequests(CaseError):
    code = "too_many_requests"
    status = 429


# ----------------------------------------------------------------------------------------------- staff accounts


class SessionRevoked(Unauthenticated):
    """A token issued before its account was disabled, its password reset or changed, its roles changed."""

    code = "session_revoked"

    def __init__(self, message: str = "登录已失效（账号信息已变更或已退出登录），请重新登录") -> None:
        super().__init__(message)


class PasswordChangeRequired(Forbidden):
    """The account's password was set by an administrator: its owner must choose their own before anything else."""

    code = "password_change_required"

    def __init__(self) -> None:
        super().__init__("首次登录或密码被重置后，请先修改密码")


class AccountDisabled(Forbidden):
    code = "account_disabled"

    def __init__(self) -> None:
        super().__init__("该账号已停用，请联系系统管理员")


class PasswordRejected(ValidationFailed):
    """A new password the policy refuses; ``code`` names the rule (``password_too_short``…)."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message, **details)
        self.code = code


class AccountRuleViolation(Conflict):
    """An account change that would lock administrators out (own admin role, disabling oneself, the last admin)
    or clash with another account (a username in use); ``code`` names which."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message, **details)
        self.code = code


class BindCodeInvalid(CaseError):
    """A WeChat bind code that is wrong, used already or expired (which of them is not said: it helps a guesser)."""

    code = "bind_code_invalid"
    status = 422

    def __init__(self) -> None:
        super().__init__("绑定码不正确或已过期。请在工作人员页面“我的”中重新获取绑定码，5分钟内发送“绑定 绑定码”。")
