"""The shopper's privacy page: see, withdraw or delete what the backend stores about them.

The kiosk's privacy receipt is a QR code for ``/privacy?code=...`` (with ``&cc=49``, the
store's country calling code, when the kiosk adds it). The page is for shoppers, not
developers: it speaks their language (English, Chinese or Arabic, as the kiosk does:
``?lang=``, else the browser's ``Accept-Language``) and answers in sentences, never JSON.

It is a plain HTML form that posts back to ``/privacy``; the server runs the same
shopper-rights operations as ``/v1/shoppers/*`` (``docs/protocol.md``, "Shopper rights":
same checks, same lockouts) and renders the result. The phone number is read with
:func:`facepay.wire.phone_to_e164`, the function the kiosk stored it with, so a number
the kiosk accepted in its national form (``0151 ...``) is found again.

What a visitor sends is never echoed unescaped; on GET nothing from the address is put in
the HTML at all (the page's one-line script copies the code from the address into the
field, then drops it from the address bar). ``no-store`` and ``no-referrer`` keep the
code out of caches and out of other sites' logs.
"""

from __future__ import annotations

import html
import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from facepay.errors import FacePayError
from facepay.server._errors import ApiError
from facepay.server._shoppers import ShopperRightsCalls
from facepay.wire import Claim, ClaimKind, ErrorCode, ShopperAccessRequest, phone_to_e164

__all__ = [
    "PRIVACY_LANGUAGES",
    "PRIVACY_PAGE_HEADERS",
    "privacy_answer",
    "privacy_language",
    "render_privacy_page",
]

logger = logging.getLogger(__name__)

PRIVACY_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
}

# The kiosk's languages (kiosk_app/i18n.py): English, Simplified Chinese, Arabic.
PRIVACY_LANGUAGES = ("en", "zh", "ar")
_RTL = {"ar"}

_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Your face pay data",
        "intro": "Enter the privacy code from your receipt and the phone number you "
        "enrolled with. You can see everything stored about you, stop paying with your "
        "face, or delete yourself. Your face picture was never stored; your face template "
        "is encrypted and is destroyed when you stop or delete.",
        "code": "Privacy code (on your receipt)",
        "phone": "Phone number",
        "phone_hint": "As you typed it at the till: 0151 1234 5678 or +49 151 1234 5678",
        "country": "Country calling code (for a number starting with 0)",
        "export": "Show my data",
        "withdraw": "Stop face payments",
        "delete": "Delete me",
        "confirm_withdraw": "Stop paying with your face? Your face template is destroyed.",
        "confirm_delete": "Delete everything stored about you? This cannot be undone.",
        "your_data": "What we store about you",
        "enrolled_at": "Enrolled",
        "last_used_at": "Last used",
        "consent": "Consent you gave",
        "consent_value": "text version {version}, accepted {when}",
        "consent_withdrawn_at": "Face payments stopped",
        "claim": "Your phone number",
        "claim_value": "ending in {last4}",
        "loyalty": "Your loyalty card",
        "payment_method": "Payment card",
        "template": "Face template",
        "template_yes": "stored, encrypted (model {model})",
        "template_no": "none stored",
        "retention": "Deleted automatically if unused until",
        "payments": "Payments with your face",
        "no_payments": "none",
        "never": "never",
        "withdrawn": "Done: face payments are stopped and your face template was destroyed. "
        "Your payment history stays with the store as the law requires.",
        "deleted": "Done: you are deleted. Keep this receipt of the deletion: {receipt}, {when}.",
        "denied": "The privacy code and phone number do not match an enrollment. Check "
        "both and try again. After several wrong tries the page waits a while.",
        "locked": "Too many tries. Please wait {minutes} minutes and try again.",
        "bad_code": "That is not a privacy code. It is on your receipt, like K7QD-3MXA-9P2F.",
        "bad_phone": "That is not a phone number we can read. Type it as at the till, "
        "with the country code if you have it (+49 151 1234 5678).",
        "need_country": "A number starting with 0 needs its country calling code: fill "
        "in the country field, or type the number with + and the country code.",
        "unavailable": "The service could not answer just now. Nothing was changed; "
        "please try again later.",
        "language": "Language",
    },
    "zh": {
        "title": "您的刷脸支付数据",
        "intro": "请输入收据上的隐私码和您注册时使用的手机号码。您可以查看我们存储的全部信息、"
        "停止刷脸支付，或删除您的数据。我们从未存储您的照片；您的人脸模板经过加密，"
        "停止或删除时即被销毁。",
        "code": "隐私码（见收据）",
        "phone": "手机号码",
        "phone_hint": "与在收银台输入的相同：0151 1234 5678 或 +49 151 1234 5678",
        "country": "国际区号（号码以 0 开头时填写）",
        "export": "查看我的数据",
        "withdraw": "停止刷脸支付",
        "delete": "删除我的数据",
        "confirm_withdraw": "停止刷脸支付？您的人脸模板将被销毁。",
        "confirm_delete": "删除我们存储的关于您的全部信息？此操作无法撤销。",
        "your_data": "我们存储的关于您的信息",
        "enrolled_at": "注册时间",
        "last_used_at": "最近使用",
        "consent": "您给予的同意",
        "consent_value": "文本版本 {version}，同意时间 {when}",
        "consent_withdrawn_at": "已停止刷脸支付",
        "claim": "您的手机号码",
        "claim_value": "尾号 {last4}",
        "loyalty": "您的会员卡",
        "payment_method": "支付卡",
        "template": "人脸模板",
        "template_yes": "已加密存储（模型 {model}）",
        "template_no": "未存储",
        "retention": "若一直未使用，将自动删除于",
        "payments": "刷脸支付记录",
        "no_payments": "无",
        "never": "从未",
        "withdrawn": "已完成：刷脸支付已停止，您的人脸模板已被销毁。"
        "按法律要求，您的支付记录仍由商店保存。",
        "deleted": "已完成：您的数据已删除。请保留删除凭证：{receipt}，{when}。",
        "denied": "隐私码与手机号码不匹配任何注册。请检查后重试。多次输入错误后需要等待一段时间。",
        "locked": "尝试次数过多。请等待 {minutes} 分钟后重试。",
        "bad_code": "这不是有效的隐私码。隐私码印在收据上，例如 K7QD-3MXA-9P2F。",
        "bad_phone": "无法识别该手机号码。请按在收银台输入的方式填写，如有国际区号请一并填写"
        "（+49 151 1234 5678）。",
        "need_country": "以 0 开头的号码需要国际区号：请填写区号，或以 + 和区号输入号码。",
        "unavailable": "服务暂时无法响应。未做任何更改，请稍后重试。",
        "language": "语言",
    },
    "ar": {
        "title": "بيانات الدفع بالوجه الخاصة بك",
        "intro": "أدخل رمز الخصوصية الموجود على إيصالك ورقم الهاتف الذي سجّلت به. يمكنك رؤية كل "
        "ما نحفظه عنك، أو إيقاف الدفع بالوجه، أو حذف نفسك. لم تُحفظ صورة وجهك أبدًا؛ قالب "
        "وجهك مشفّر ويُتلف عند الإيقاف أو الحذف.",
        "code": "رمز الخصوصية (على إيصالك)",
        "phone": "رقم الهاتف",
        "phone_hint": "كما كتبته عند الدفع: 0151 1234 5678 أو ‎+49 151 1234 5678",
        "country": "رمز الاتصال الدولي (لرقم يبدأ بـ 0)",
        "export": "اعرض بياناتي",
        "withdraw": "أوقف الدفع بالوجه",
        "delete": "احذفني",
        "confirm_withdraw": "إيقاف الدفع بالوجه؟ سيُتلف قالب وجهك.",
        "confirm_delete": "حذف كل ما نحفظه عنك؟ لا يمكن التراجع عن ذلك.",
        "your_data": "ما نحفظه عنك",
        "enrolled_at": "تاريخ التسجيل",
        "last_used_at": "آخر استخدام",
        "consent": "الموافقة التي قدّمتها",
        "consent_value": "نسخة النص {version}، بتاريخ {when}",
        "consent_withdrawn_at": "أوقف الدفع بالوجه في",
        "claim": "رقم هاتفك",
        "claim_value": "ينتهي بـ {last4}",
        "loyalty": "بطاقة الولاء",
        "payment_method": "بطاقة الدفع",
        "template": "قالب الوجه",
        "template_yes": "محفوظ ومشفّر (النموذج {model})",
        "template_no": "غير محفوظ",
        "retention": "يُحذف تلقائيًا إن لم يُستخدم حتى",
        "payments": "المدفوعات بوجهك",
        "no_payments": "لا شيء",
        "never": "أبدًا",
        "withdrawn": "تم: أوقف الدفع بالوجه وأُتلف قالب وجهك. يبقى سجل مدفوعاتك لدى المتجر كما "
        "يقتضي القانون.",
        "deleted": "تم: حُذفت بياناتك. احتفظ بإيصال الحذف هذا: {receipt}، {when}.",
        "denied": "رمز الخصوصية ورقم الهاتف لا يطابقان أي تسجيل. تحقّق منهما وحاول مجددًا. بعد "
        "عدة محاولات خاطئة تنتظر الصفحة بعض الوقت.",
        "locked": "محاولات كثيرة جدًا. يرجى الانتظار {minutes} دقيقة ثم المحاولة مجددًا.",
        "bad_code": "هذا ليس رمز خصوصية. تجده على إيصالك، مثل K7QD-3MXA-9P2F.",
        "bad_phone": "لا يمكننا قراءة رقم الهاتف هذا. اكتبه كما عند الدفع، مع رمز الدولة إن "
        "وُجد (‎+49 151 1234 5678).",
        "need_country": "الرقم الذي يبدأ بـ 0 يحتاج إلى رمز الاتصال الدولي: املأ حقل الدولة، أو "
        "اكتب الرقم بـ + ورمز الدولة.",
        "unavailable": "تعذّر على الخدمة الرد الآن. لم يتغيّر شيء؛ يرجى المحاولة لاحقًا.",
        "language": "اللغة",
    },
}
_LANGUAGE_NAMES = {"en": "English", "zh": "中文", "ar": "العربية"}
_COUNTRY_RE = re.compile(r"\+?([1-9][0-9]{0,2})")


def privacy_language(requested: str | None, accept_language: str) -> str:
    """``?lang=`` when it is one of ours, else the first of the browser's that is, else
    English."""
    if requested in PRIVACY_LANGUAGES:
        return requested
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower().split("-")[0]
        if tag in PRIVACY_LANGUAGES:
            return tag
    return "en"


def _country(value: str | None) -> str:
    match = _COUNTRY_RE.fullmatch((value or "").strip())
    return match.group(1) if match else ""


def render_privacy_page(
    lang: str, *, country: str | None = None, code: str = "", answer: str = "", ok: bool = True
) -> str:
    """The page in ``lang``, with ``answer`` (already HTML) shown above the form."""
    t = _TEXT[lang]
    e = html.escape
    cc = _country(country)
    links = " · ".join(
        f'<a href="?lang={k}" lang="{k}">{_LANGUAGE_NAMES[k]}</a>' for k in PRIVACY_LANGUAGES
    )
    result = (
        f'<section id="answer" class="{"ok" if ok else "error"}" role="status">{answer}</section>'
        if answer
        else ""
    )
    return f"""<!doctype html>
<html lang="{lang}" dir="{"rtl" if lang in _RTL else "ltr"}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(t["title"])}</title>
<style>
 body {{ font: 18px/1.5 system-ui, sans-serif; max-width: 36em; margin: 2em auto;
        padding: 0 1em; color: #111; }}
 label {{ display: block; margin-top: 1em; font-weight: 600; }}
 small {{ display: block; color: #555; }}
 input {{ font: inherit; width: 100%; padding: .5em; box-sizing: border-box; }}
 button {{ font: inherit; margin: 1em .5em 0 0; padding: .6em 1.2em; min-height: 48px; }}
 section {{ padding: 1em; margin: 1em 0; border-radius: 6px; }}
 .ok {{ background: #eef7ee; }} .error {{ background: #fbeaea; }}
 dt {{ font-weight: 600; margin-top: .5em; }} dd {{ margin: 0; }}
 .danger {{ background: #a00; color: #fff; border: 0; }}
 nav {{ font-size: 90%; }}
</style>
</head>
<body>
<nav aria-label="{e(t["language"])}">{links}</nav>
<h1>{e(t["title"])}</h1>
{result}
<p>{e(t["intro"])}</p>
<form method="post" action="/privacy?lang={lang}">
<label for="code">{e(t["code"])}</label>
<input id="code" name="code" autocomplete="off" spellcheck="false"
       placeholder="K7QD-3MXA-9P2F" value="{e(code)}" required>
<label for="phone">{e(t["phone"])}</label>
<small>{e(t["phone_hint"])}</small>
<input id="phone" name="phone" type="tel" autocomplete="tel" dir="ltr" required>
<label for="cc">{e(t["country"])}</label>
<input id="cc" name="cc" inputmode="numeric" dir="ltr" placeholder="49" value="{cc}">
<div>
 <button name="action" value="export">{e(t["export"])}</button>
 <button name="action" value="withdraw"
   onclick="return confirm(this.dataset.ask)" data-ask="{e(t["confirm_withdraw"])}"
 >{e(t["withdraw"])}</button>
 <button name="action" value="delete" class="danger"
   onclick="return confirm(this.dataset.ask)" data-ask="{e(t["confirm_delete"])}"
 >{e(t["delete"])}</button>
</div>
</form>
<script>
 const code = new URLSearchParams(location.search).get("code");
 if (code) {{ document.getElementById("code").value = code; }}
 history.replaceState(null, "", location.pathname + (location.search.match(/[?&]lang=\\w+/)
   ? "?lang={lang}" : ""));
</script>
</body>
</html>
"""


def _when(value: datetime | None, t: Mapping[str, str]) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else t["never"]


def _export_html(export: Any, t: Mapping[str, str]) -> str:
    e = html.escape
    rows: list[tuple[str, str]] = [
        (t["enrolled_at"], _when(export.enrolled_at, t)),
        (t["last_used_at"], _when(export.last_used_at, t)),
        (
            t["consent"],
            t["consent_value"].format(
                version=export.consent.text_version, when=_when(export.consent.accepted_at, t)
            ),
        ),
    ]
    if export.consent_withdrawn_at is not None:
        rows.append((t["consent_withdrawn_at"], _when(export.consent_withdrawn_at, t)))
    claim_label = t["claim"] if export.claim_kind is ClaimKind.PHONE else t["loyalty"]
    rows.append((claim_label, t["claim_value"].format(last4=export.claim_last4 or "")))
    rows.append((t["payment_method"], export.masked_payment_method))
    rows.append(
        (
            t["template"],
            t["template_yes"].format(model=export.template_model_id)
            if export.template_stored
            else t["template_no"],
        )
    )
    rows.append((t["retention"], _when(export.retention_expires_at, t)))
    payments = [
        f"{_when(a.created_at, t)}: {a.amount_minor / 100:.2f} {a.currency} ({a.status.value})"
        for a in export.authorizations
    ]
    body = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in rows)
    listed = (
        "<ul>" + "".join(f"<li>{e(p)}</li>" for p in payments) + "</ul>"
        if payments
        else f"<dd>{e(t['no_payments'])}</dd>"
    )
    return f"<h2>{e(t['your_data'])}</h2><dl>{body}<dt>{e(t['payments'])}</dt>{listed}</dl>"


def privacy_answer(
    rights: ShopperRightsCalls, form: Mapping[str, Sequence[str]], lang: str
) -> tuple[int, str]:
    """Run the shopper's chosen action; return the HTTP status and the page to show.

    ``rights`` are the shopper-rights operations for the caller's source
    (``PaymentBackend.for_source``): the same operations, checks and limits as
    ``/v1/shoppers/*``.
    """
    t = _TEXT[lang]

    def field(name: str) -> str:
        values = form.get(name) or [""]
        return str(values[0]).strip()

    code, typed, cc, action = field("code"), field("phone"), field("cc"), field("action")

    def page(status: int, key: str, ok: bool = False, **values: Any) -> tuple[int, str]:
        answer = f"<p>{html.escape(t[key].format(**values))}</p>"
        return status, render_privacy_page(lang, country=cc, code=code, answer=answer, ok=ok)

    operations: dict[str, Callable[[ShopperAccessRequest], Any]] = {
        "export": rights.export,
        "withdraw": rights.withdraw_consent,
        "delete": rights.delete,
    }
    if action not in operations:
        action = "export"
    digits = "".join(ch for ch in typed if ch.isdigit())
    if typed.lstrip().startswith("0") and not digits.startswith("00") and not _country(cc):
        return page(422, "need_country")
    try:
        claim = Claim(kind=ClaimKind.PHONE, value=phone_to_e164(typed, _country(cc) or "0"))
    except ValidationError:
        return page(422, "bad_phone")
    try:
        request = ShopperAccessRequest(privacy_code=code, claim=claim)
    except ValidationError:
        return page(422, "bad_code")
    try:
        result = operations[action](request)
    except ApiError as exc:
        if exc.code in (ErrorCode.RATE_LIMITED, ErrorCode.LOCKED_OUT):
            retry = exc.retry_after or 60.0
            return page(429, "locked", minutes=max(1, math.ceil(retry / 60.0)))
        if 400 <= exc.status < 500:
            return page(exc.status, "denied")
        logger.warning("privacy page: %s failed (%s)", action, exc.code.value)
        return page(503, "unavailable")
    except FacePayError as exc:
        logger.warning("privacy page: %s failed (%s)", action, type(exc).__name__)
        return page(503, "unavailable")
    if action == "export":
        return 200, render_privacy_page(
            lang, country=cc, code=code, answer=_export_html(result, t), ok=True
        )
    if action == "withdraw":
        return page(200, "withdrawn", ok=True)
    return page(
        200, "deleted", ok=True, receipt=result.receipt_id, when=_when(result.deleted_at, t)
    )
