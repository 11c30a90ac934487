"""Every bound the project puts on what comes from outside, in one place.

Byte limits for person fields follow errata 5.8 (the document's "字符" are
UTF-8 bytes, and "<64" means at most 63). Transport limits are our own: they
are sized for the largest thing a real device sends (a 400 KB photo plus a
1000-record system batch) with generous room, and small enough that a hostile
body cannot exhaust memory.
"""

from __future__ import annotations

KiB = 1024
MiB = 1024 * KiB

#: Largest request body accepted on the wire (before inflation).
MAX_BODY_BYTES = 8 * MiB
#: Largest size any gzip stream (whole body or one part) may inflate to.
MAX_INFLATED_BYTES = 16 * MiB
#: Most parts a multipart body may have; real devices send at most four.
MAX_PARTS = 64
#: Most bytes of headers one multipart part may carry.
MAX_PART_HEADER_BYTES = 8 * KiB
#: Deepest JSON nesting accepted (settings documents reach depth 5).
MAX_JSON_DEPTH = 32
#: Largest photo a device accepts (document: "最大支持400KB"), errata 5.8.
MAX_PHOTO_BYTES = 400 * KiB
#: Largest ExpirationDate the firmware takes: 2099-12-31 23:59:59 UTC+8 (errata 6.7).
MAX_EXPIRATION_DATE = 4102412399
#: Most records one UploadSystemRecord may carry (document: Records length 1000).
MAX_SYSTEM_RECORDS = 1000
#: Device identity field length (document: SN length 30).
MAX_SN_BYTES = 30
#: Device timeout for ordinary calls (document: 2 s, 3 tries).
DEVICE_TIMEOUT_SECONDS = 2.0
#: Device timeout for record uploads (document: 30 s, retry 10 s after an error).
RECORD_TIMEOUT_SECONDS = 30.0
#: Keep idle device connections at least this long (errata 1.4; architecture: >= 90 s).
KEEPALIVE_TIMEOUT_SECONDS = 120.0
#: DownloadPeopleList / DeletePeopleList page sizes (document).
MAX_PEOPLE_PAGE = 1000
DEFAULT_DELETE_PAGE = 50

#: Person string fields and their limits in UTF-8 bytes (inclusive maximum).
PERSON_TEXT_LIMITS: dict[str, int] = {
    "Code": 63,
    "Name": 63,
    "Job": 63,
    "Department": 63,
    "IdentityCard": 63,
    "Attachment": 199,
    "QRCode": 127,
}
#: Identify-record string fields and their lengths from the record table.
RECORD_TEXT_LIMITS: dict[str, int] = {
    "UserID": 20,
    "Code": 64,
    "Name": 64,
    "IdentityCard": 64,
    "Job": 64,
    "Department": 64,
    "CardNum": 20,
    "QRCode": 128,
}
MAX_USER_ID = 4294967295  # uint32
MAX_CARD_NUM = 18446744073709551615  # uint64
