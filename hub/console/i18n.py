"""The console's words in Vietnamese (default) and English.

One table, key → (vi, en). A key missing here shows as itself, so a forgotten
translation is visible rather than blank; ``tests/hub/console`` checks that
every key the templates use is present in both languages.
"""

from __future__ import annotations

from collections.abc import Callable

LANGUAGES = ("vi", "en")
DEFAULT = "vi"

TEXT: dict[str, tuple[str, str]] = {
    # frame
    "product": ("Trục liên thông văn bản điện tử", "E-document exchange hub"),
    "province": ("UBND tỉnh Bắc Giang", "Bắc Giang Provincial People's Committee"),
    "nav.dashboard": ("Tổng quan", "Dashboard"),
    "nav.rejected": ("Gói bị từ chối", "Rejected"),
    "nav.parked": ("Bản ghi tạm giữ", "Parked"),
    "nav.overdue": ("Quá hạn xử lý", "Overdue"),
    "nav.agencies": ("Cơ quan", "Agencies"),
    "nav.coverage": ("Tỷ lệ liên thông", "Coverage"),
    "nav.system": ("Hệ thống", "System"),
    "signed_in_as": ("Đăng nhập:", "Signed in:"),
    "logout": ("Đăng xuất", "Sign out"),
    "role.operator": ("vận hành", "operator"),
    "role.auditor": ("kiểm toán", "auditor"),
    "live": ("Trực tiếp", "Live"),
    "disconnected": ("Mất kết nối — đang thử lại", "Disconnected — retrying"),
    "updated": ("Cập nhật", "Updated"),
    "none_yet": ("Chưa có dữ liệu", "No data yet"),
    "unavailable": ("Chưa có", "Not available"),
    "time_zone_note": ("Giờ Việt Nam (UTC+7)", "Vietnam time (UTC+7)"),
    # login
    "login.title": ("Đăng nhập bảng điều khiển", "Sign in to the console"),
    "login.token": ("Mã truy cập (API token)", "Access token (API token)"),
    "login.help": (
        "Dùng mã do quản trị viên cấp bằng lệnh «edoc token create --role operator» "
        "hoặc «--role auditor».",
        "Use a token an administrator created with `edoc token create --role operator` "
        "or `--role auditor`.",
    ),
    "login.submit": ("Đăng nhập", "Sign in"),
    "login.bad": ("Mã truy cập không đúng hoặc đã bị thu hồi.", "Unknown or revoked token."),
    "login.agency": (
        "Mã của cơ quan chỉ dùng cho cổng kết nối (gateway) và báo cáo của chính cơ quan đó, "
        "không dùng cho bảng điều khiển.",
        "Agency tokens reach only their own gateway inbox and reports, not the console.",
    ),
    "login.origin": ("Yêu cầu không hợp lệ (khác nguồn).", "Invalid request (cross-origin)."),
    "login.needed": ("Vui lòng đăng nhập để tiếp tục.", "Please sign in to continue."),
    "logged_out": ("Đã đăng xuất.", "Signed out."),
    # dashboard
    "dash.title": ("Tổng quan luồng văn bản", "Message flow"),
    "dash.doc_rate": ("Văn bản / giây", "Documents / second"),
    "dash.rate": ("Gói tin / giây", "Packages / second"),
    "dash.rate_note": ("trung bình 10 giây", "10-second average"),
    "dash.accepted": ("Hợp lệ (5 phút)", "Accepted (5 min)"),
    "dash.rejected": ("Từ chối (5 phút)", "Rejected (5 min)"),
    "dash.accepted_pct": ("Tỷ lệ hợp lệ", "Acceptance rate"),
    "dash.latency": ("Độ trễ xử lý p95", "Decision latency p95"),
    "dash.latency_note": ("tiếp nhận → quyết định", "received → decided"),
    "dash.totals": ("Từ khi khởi động", "Since start"),
    "dash.flow": ("Luồng 5 phút gần nhất (mỗi cột 5 giây)", "Last 5 minutes (5-second bars)"),
    "dash.senders": ("Gửi nhiều nhất (5 phút)", "Top senders (5 min)"),
    "dash.recipients": ("Nhận nhiều nhất (5 phút)", "Top recipients (5 min)"),
    "dash.other_agencies": (
        "Mã ngoài danh bạ (gộp chung)",
        "Codes not in the directory (together)",
    ),
    "dash.verdicts_hour": ("Kết quả kiểm tra theo phút (60 phút)", "Verdicts per minute (60 min)"),
    "dash.reasons": ("Lý do từ chối (60 phút)", "Rejection reasons (60 min)"),
    "dash.health": ("Tình trạng dịch vụ", "Service health"),
    "dash.lag": ("Độ trễ tiêu thụ (consumer lag)", "Consumer lag"),
    "ok": ("Hợp lệ", "Accepted"),
    "rejected": ("Từ chối", "Rejected"),
    "per_s": ("/giây", "/s"),
    # health
    "health.kafka": ("Kafka broker", "Kafka broker"),
    "health.database": ("Cơ sở dữ liệu", "Database"),
    "health.log": ("Sổ chữ ký (Merkle log)", "Signature log (Merkle)"),
    "health.checkpoint": ("Điểm chốt ký số gần nhất", "Latest signed checkpoint"),
    "health.entries": ("bản ghi", "entries"),
    "health.ago": ("trước", "ago"),
    "health.up": ("Hoạt động", "Up"),
    "health.down": ("Không kết nối được", "Unreachable"),
    "health.unknown": ("Đang kiểm tra", "Checking"),
    "lag.service": ("Dịch vụ", "Service"),
    "lag.group": ("Nhóm tiêu thụ", "Consumer group"),
    "lag.topic": ("Chủ đề", "Topic"),
    "lag.partition": ("Phân vùng", "Partition"),
    "lag.committed": ("Đã xử lý đến", "Committed"),
    "lag.end": ("Cuối", "End"),
    "lag.lag": ("Còn tồn", "Lag"),
    "lag.none": ("Chưa có nhóm nào ghi nhận vị trí.", "No group has committed offsets yet."),
    # rejected
    "rej.title": ("Hàng đợi gói bị từ chối", "Rejected queue"),
    "dlq.title": ("Bản ghi tạm giữ (edoc.deadletter)", "Parked records (edoc.deadletter)"),
    "dlq.intro": (
        "Bản ghi mà một dịch vụ của trục không xử lý được được giữ lại ở đây, kèm lỗi và "
        "vị trí gốc; dịch vụ vẫn tiếp tục. Sau khi khắc phục, chạy lại bằng "
        "`edoc deadletter replay`.",
        "Records a hub service could not process are kept here with the error and where "
        "they came from; the service went on. After a fix, replay them with "
        "`edoc deadletter replay`.",
    ),
    "dlq.offset": ("Vị trí", "Offset"),
    "dlq.service": ("Dịch vụ", "Service"),
    "dlq.source": ("Nguồn", "Source"),
    "dlq.when": ("Thời điểm giữ", "Parked at"),
    "dlq.error": ("Lỗi", "Error"),
    "dlq.replayed": ("Đã chạy lại", "Replayed"),
    "dlq.waiting": ("Chờ xử lý", "Waiting"),
    "dlq.empty": ("Không có bản ghi nào bị tạm giữ.", "Nothing is parked."),
    "rej.intro": (
        "Mỗi gói bị từ chối được giữ nguyên bản trên chủ đề edoc.rejected kèm lý do. "
        "Người vận hành có thể gửi lại bản gốc để kiểm tra lại, ví dụ sau khi CRL được gia hạn "
        "hoặc danh bạ cơ quan được cập nhật.",
        "Every refused package is kept unchanged on edoc.rejected with its reasons. Operators "
        "can submit the original again for a fresh check, e.g. after a CRL was renewed or the "
        "agency directory updated.",
    ),
    "rej.freshness": (
        "Lưu ý: bộ định tuyến kiểm tra độ mới so với thời điểm gửi lại; gói cũ hơn cửa sổ "
        "cho phép sẽ bị từ chối với lý do «stale».",
        "Note: the router checks freshness against the time of the new submission; a package "
        "older than the freshness window comes back as «stale».",
    ),
    "rej.when": ("Thời điểm", "When"),
    "rej.sender": ("Nơi gửi", "Sender"),
    "rej.recipients": ("Nơi nhận", "Recipients"),
    "rej.subject": ("Trích yếu", "Subject"),
    "rej.reasons": ("Lý do", "Reasons"),
    "rej.position": ("Vị trí", "Position"),
    "rej.reprocess": ("Gửi lại", "Reprocess"),
    "rej.reprocessed": ("Đã gửi lại", "Reprocessed"),
    "rej.by": ("bởi", "by"),
    "rej.done": (
        "Đã gửi lại gói {ref} vào edoc.submit (vị trí {pos}); kết quả mới sẽ xuất hiện "
        "trong vài giây.",
        "Submitted {ref} again to edoc.submit (at {pos}); the new verdict follows in seconds.",
    ),
    "rej.not_retryable": (
        "Lý do từ chối nằm ở chính gói tin (chữ ký, nội dung, độ mật…); gửi lại sẽ bị từ chối "
        "lần nữa. Nơi gửi cần ký và gửi gói mới.",
        "The reason lies in the package itself (signature, content, classification…); sent "
        "again it is refused again. The sender must sign and send a new package.",
    ),
    "rej.sender_must_fix": ("nơi gửi cần gửi lại", "sender must resend"),
    "rej.empty": ("Không có gói nào bị từ chối.", "No rejected packages."),
    "rej.header": ("Tiêu đề gốc (đã ký)", "Original header (as signed)"),
    "rej.detail": ("Chi tiết gói bị từ chối", "Rejected package"),
    "rej.unreadable": ("Không đọc được tiêu đề của gói.", "The package header cannot be read."),
    "rej.signatures": ("Chữ ký", "Signatures"),
    "rej.size": ("Kích thước", "Size"),
    "rej.auditor_note": (
        "Vai trò kiểm toán chỉ được xem; gửi lại là việc của người vận hành.",
        "Auditors may look; reprocessing is for operators.",
    ),
    # overdue
    "od.title": ("Văn bản quá hạn xử lý", "Overdue documents"),
    "od.intro": (
        "Văn bản đã chuyển đến nơi nhận nhưng chưa có trạng thái «đã tiếp nhận» (03) hoặc sau đó "
        "trong thời hạn quy định.",
        "Documents delivered but without status 03 (accepted) or later within the deadline.",
    ),
    "od.delivered": ("Đã chuyển lúc", "Delivered"),
    "od.status": ("Trạng thái", "Status"),
    "od.waiting": ("Đã chờ", "Waiting"),
    "od.priority": ("Độ khẩn", "Priority"),
    "od.code": ("Số, ký hiệu", "Number"),
    "od.none": ("Không có văn bản quá hạn.", "No overdue documents."),
    "od.missing": (
        "Chức năng theo dõi trạng thái chưa được bật trên máy chủ này (/api/v1/overdue).",
        "Status tracking is not enabled on this server (/api/v1/overdue).",
    ),
    "hours": ("giờ", "h"),
    "minutes": ("phút", "min"),
    # agencies
    "ag.title": ("Cơ quan, đơn vị", "Agencies"),
    "ag.code": ("Mã định danh", "Code"),
    "ag.name": ("Tên cơ quan", "Name"),
    "ag.level": ("Cấp", "Level"),
    "ag.parent": ("Cơ quan cấp trên", "Parent"),
    "ag.children": ("Đơn vị trực thuộc", "Units under it"),
    "ag.sent_ok": ("Gửi hợp lệ", "Sent, accepted"),
    "ag.sent_rejected": ("Gửi bị từ chối", "Sent, refused"),
    "ag.received": ("Đã nhận", "Received"),
    "ag.last": ("Hoạt động gần nhất", "Last activity"),
    "ag.since_start": ("từ khi khởi động bảng điều khiển", "since the console started"),
    "ag.recent": ("Bản ghi gần đây trong sổ chữ ký", "Recent signature-log entries"),
    "ag.inactive": ("Ngừng hoạt động", "Inactive"),
    "ag.unknown": ("Không có cơ quan này trong danh bạ.", "No such agency in the directory."),
    "ag.coverage": ("Chỉ tiêu kỳ này", "Indicators this period"),
    "ag.reasons": ("Lý do bị từ chối", "Why its packages were refused"),
    "ag.verdict": ("Kết quả kiểm tra", "Verdict"),
    "kind.document": ("văn bản", "document"),
    "kind.status": ("trạng thái xử lý", "status"),
    "kind.register": ("báo cáo sổ văn bản", "register report"),
    "od.hours": ("Quá hạn sau (giờ)", "Overdue after (hours)"),
    "od.default": ("mặc định {hours} giờ", "default {hours} h"),
    "ag.inbox": ("Hộp thư chưa đọc (gateway)", "Unread inbox (gateway)"),
    "level.province": ("Tỉnh", "Province"),
    "level.department": ("Sở, ban, ngành", "Department"),
    "level.district": ("Huyện, thành phố", "District"),
    "level.commune": ("Xã, phường, thị trấn", "Commune"),
    "level.unit": ("Đơn vị", "Unit"),
    # coverage
    "cov.title": ("Tỷ lệ văn bản điện tử có ký số", "Electronic, signed documents"),
    "cov.intro": (
        "Mục tiêu theo Quyết định 166/QĐ-UBND, mục II.6.d: 100% văn bản không mật trao đổi "
        "giữa các cơ quan dưới dạng điện tử và được ký số.",
        "Target of Decision 166/QĐ-UBND, §II.6.d: 100% of non-secret documents exchanged "
        "between agencies electronically and digitally signed.",
    ),
    "cov.period": ("Kỳ", "Period"),
    "cov.target": ("Mục tiêu", "Target"),
    "cov.unknown": ("chưa rõ", "unknown"),
    "cov.laggards": ("Đơn vị xa mục tiêu nhất", "Furthest below target"),
    "cov.missing": (
        "Chức năng tỷ lệ liên thông chưa sẵn sàng trên máy chủ này (/api/v1/coverage).",
        "Coverage is not available on this server (/api/v1/coverage).",
    ),
    "cov.e_documents": ("Văn bản điện tử có ký số hợp lệ", "Electronic with a valid signature"),
    "cov.signature_use": ("Cơ quan dùng chữ ký số", "Agencies signing"),
    "cov.scanned": ("Văn bản được số hóa", "Documents scanned"),
    "cov.officials": ("Cán bộ xử lý trên hệ thống", "Officials on the system"),
    "cov.level4": ("Hồ sơ trực tuyến mức 4", "Level-4 online dossiers"),
    "cov.signed_weak": ("Ký số SHA-1", "Signed with SHA-1"),
    "cov.weak_note": (
        "Văn bản ký số bằng thuật toán SHA-1 (yếu) chỉ được chấp nhận khi bật "
        "EDOC_XMLDSIG_ALLOW_SHA1; vẫn được tính là đã ký số hợp lệ nhưng được đếm riêng "
        "để các cơ quan chuyển sang SHA-256.",
        "Documents signed with the weak SHA-1 algorithm are accepted only while "
        "EDOC_XMLDSIG_ALLOW_SHA1 is on; they count as validly signed but are counted apart "
        "so that agencies move to SHA-256.",
    ),
    "cov.met": ("Đạt", "Met"),
    "cov.below": ("Chưa đạt", "Below"),
    # system
    "sys.title": ("Hệ thống", "System"),
    "sys.docs": ("Tài liệu giao diện lập trình", "Interface documents"),
    "sys.openapi": ("OpenAPI (HTTP API)", "OpenAPI (HTTP API)"),
    "sys.asyncapi": ("AsyncAPI (các chủ đề Kafka)", "AsyncAPI (Kafka topics)"),
    "sys.metrics": (
        "Chỉ số Prometheus (/metrics, cần mã vận hành)",
        "Prometheus metrics (/metrics, operator token)",
    ),
    "sys.monitor": ("Bộ giám sát", "Monitor"),
    "sys.events_seen": ("Sự kiện đã đọc", "Events read"),
    "sys.last_event": ("Sự kiện mới nhất", "Newest event"),
    # errors
    "err.forbidden": (
        "Vai trò của bạn không được phép thực hiện thao tác này.",
        "Your role may not do this.",
    ),
    "err.csrf": (
        "Phiên biểu mẫu đã hết hạn; vui lòng tải lại trang và thử lại.",
        "The form has expired; reload the page and try again.",
    ),
    "err.kafka": ("Không kết nối được Kafka; thử lại sau.", "Kafka is unreachable; try again."),
    "err.not_found": (
        "Không tìm thấy bản ghi này trên edoc.rejected.",
        "No such record on edoc.rejected.",
    ),
}

#: Reason codes (schemas.reasons) in both languages.
REASONS: dict[str, tuple[str, str]] = {
    "malformed": ("gói tin sai định dạng", "malformed package"),
    "bad_signature": ("chữ ký không hợp lệ", "invalid signature"),
    "digest_mismatch": ("tệp đính kèm bị thay đổi", "attachment altered"),
    "untrusted_chain": ("chứng thư không tin cậy", "untrusted certificate chain"),
    "cert_expired": ("chứng thư hết hạn", "certificate expired"),
    "cert_not_yet_valid": ("chứng thư chưa có hiệu lực", "certificate not yet valid"),
    "cert_revoked": ("chứng thư bị thu hồi", "certificate revoked"),
    "revocation_unknown": ("không kiểm tra được thu hồi (CRL)", "revocation unknown (CRL)"),
    "key_usage": ("sai mục đích sử dụng khóa", "wrong key usage"),
    "weak_key": ("khóa yếu", "weak key"),
    "weak_algorithm": ("thuật toán không được phép", "algorithm not allowed"),
    "sender_mismatch": ("người ký không phải nơi gửi", "signer is not the sender"),
    "unknown_sender": ("nơi gửi không có trong danh bạ", "unknown sender"),
    "unknown_recipient": ("nơi nhận không có trong danh bạ", "unknown recipient"),
    "duplicate": ("gửi trùng", "duplicate"),
    "stale": ("thời điểm gửi quá cũ/mới", "stale (outside freshness window)"),
    "too_large": ("gói quá lớn", "too large"),
    "classified": ("văn bản mật — không được gửi qua trục", "secret document — never via the hub"),
    "unsupported_profile": ("định dạng chữ ký không hỗ trợ", "unsupported signature profile"),
    "unsigned": ("không có chữ ký", "unsigned"),
    "unknown_reference": ("trạng thái cho văn bản không rõ", "status for an unknown document"),
    "unprocessable": ("trục không xử lý được gói tin", "the hub could not process it"),
    "unsigned_content": ("có nội dung ngoài phạm vi chữ ký", "content not under the signature"),
}

#: edXML status codes (DESIGN.md) in both languages.
STATUSES: dict[str, tuple[str, str]] = {
    "01": ("đã đến nơi nhận", "arrived"),
    "02": ("bị từ chối", "rejected"),
    "03": ("đã tiếp nhận", "accepted"),
    "04": ("đã phân công", "assigned"),
    "05": ("đang xử lý", "processing"),
    "06": ("hoàn thành", "completed"),
    "13": ("đề nghị thu hồi", "recall requested"),
    "15": ("đồng ý thu hồi/cập nhật", "recall accepted"),
    "16": ("từ chối thu hồi/cập nhật", "recall refused"),
}


def pick(lang: str) -> int:
    """Column of ``lang`` in the tables (unknown languages get the default)."""
    return LANGUAGES.index(lang) if lang in LANGUAGES else LANGUAGES.index(DEFAULT)


def translator(lang: str) -> Callable[..., str]:
    """``t(key, **fmt)`` for ``lang``: the text, formatted with ``fmt``; the key if unknown."""
    col = pick(lang)

    def t(key: str, **fmt: object) -> str:
        entry = TEXT.get(key)
        text = entry[col] if entry else key
        return text.format(**fmt) if fmt else text

    return t


def reason_text(lang: str, code: str) -> str:
    """A reason code in words (the code itself when unknown)."""
    entry = REASONS.get(code)
    return entry[pick(lang)] if entry else code


def status_text(lang: str, code: str | None) -> str:
    """An edXML status code in words."""
    if code is None:
        return "—"
    entry = STATUSES.get(code)
    return f"{code} · {entry[pick(lang)]}" if entry else code


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The language to use: the remembered choice, else the browser's, else Vietnamese."""
    if cookie in LANGUAGES:
        return cookie
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return DEFAULT
