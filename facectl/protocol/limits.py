"""Every bound the project puts on what comes from outside, in one place.

Byte limits for person fields follow protocol.md 5.8 (the document's "字符" are
UTF-8 bytes, and "<64" means at most 63). Transport limits are our own: they
are sized for the largest thing a real device sends (a 400 KB photo plus a
1000-record system batch) with generous room, and small enough that a hostile
body cannot exhaust memory.
"""

from __future__ import annotations

KiB = 1024
MiB = 1024 * KiB

#: Largest request body accepted on the wire (before inflation), on any endpoint; each endpoint
#: has its own, smaller limit (below, used by the catalog in endpoints.py).
MAX_BODY_BYTES = 8 * MiB
#: Largest size any gzip stream (whole body or one part) may inflate to.
MAX_INFLATED_BYTES = 16 * MiB

# Per-endpoint body limits: what the endpoint's largest real request needs, with room, and no
# more, so the work a request can cause is bounded by what its endpoint could ever need. A body
# is held to its endpoint's limit on the wire and again after inflation.
#: Polls (Keepalive, DownloadWorkSetting, RemoteCommand, people page requests): an SN and a few
#: status fields, a few hundred bytes.
MAX_POLL_BYTES = 8 * KiB
#: Page results (DownloadPeopleListResult, DeletePeopleListResult): up to 1000 entries.
MAX_PAGE_RESULT_BYTES = 256 * KiB
#: A settings document (firmware 9.25 sends hundreds of keys, some 20-30 KB).
MAX_SETTINGS_BYTES = 256 * KiB
#: A batch of at most 1000 system records (about 70 bytes each, more when pretty-printed).
MAX_SYSTEM_RECORD_BYTES = 512 * KiB
#: A multipart upload with one photo (at most 400 KB on a device) and a small JSON part.
MAX_PHOTO_UPLOAD_BYTES = 2 * MiB
#: A person as a device reports it: photo part, plus a Detail that may carry features and
#: fingerprints as base64.
MAX_PERSON_UPLOAD_BYTES = 4 * MiB
#: The JSON part of a record or authorization (RecordDetail: a dozen short fields).
MAX_RECORD_JSON_BYTES = 64 * KiB
#: The JSON part of a person report or enrolment result (Detail, ResultJson, with biometrics).
MAX_PERSON_JSON_BYTES = 2 * MiB
#: Decoding a large body (inflation, multipart, JSON) runs off the event loop, and is given up
#: after this many seconds (the device's record timeout is 30 s; a body within its endpoint's
#: limit decodes in well under a second).
DECODE_DEADLINE_SECONDS = 10.0
#: Bodies larger than this (on the wire) are decoded off the event loop; smaller ones (every poll)
#: cost less than the hand-over to a thread.
DECODE_INLINE_BYTES = 16 * KiB
#: Integers longer than this many digits are not numbers for the protocol (the widest field is
#: 64 bits, 20 digits); Python refuses to convert more than 4300 digits anyway.
MAX_INTEGER_DIGITS = 40

# What the server keeps of what it could not use.
#: Bytes of open quarantine items one device may hold; past it an item keeps its metadata
#: (size, hash, reason) and not its bytes, and the operator is told.
QUARANTINE_BYTES_PER_DEVICE = 64 * MiB
#: From a sender that is not an approved device, only this much of a refused body is kept,
#: as a sample for diagnosis, per source address.
SAMPLE_BYTES = 4 * KiB
#: Source addresses whose samples are kept; the least recently seen make room for new ones.
MAX_SAMPLE_SOURCES = 1000
#: Most parts a multipart body may have; real devices send at most four.
MAX_PARTS = 64
#: Most bytes of headers one multipart part may carry.
MAX_PART_HEADER_BYTES = 8 * KiB
#: Deepest JSON nesting accepted (settings documents reach depth 5).
MAX_JSON_DEPTH = 32
#: Largest photo a device accepts (document: "最大支持400KB"), protocol.md 5.8.
MAX_PHOTO_BYTES = 400 * KiB
#: Largest ExpirationDate the firmware takes: 2099-12-31 23:59:59 UTC+8 (protocol.md 6.7).
MAX_EXPIRATION_DATE = 4102412399
#: Most records one UploadSystemRecord may carry (document: Records length 1000).
MAX_SYSTEM_RECORDS = 1000
#: Device identity field length (document: SN length 30).
MAX_SN_BYTES = 30
#: Device timeout for ordinary calls (document: 2 s, 3 tries).
DEVICE_TIMEOUT_SECONDS = 2.0
#: Device timeout for record uploads (document: 30 s, retry 10 s after an error).
RECORD_TIMEOUT_SECONDS = 30.0
#: Keep idle device connections at least this long (protocol.md 1.4; architecture: >= 90 s).
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
MAX_USER_ID = 4294967295  # uint32
MAX_CARD_NUM = 18446744073709551615  # uint64
