#!/usr/bin/env bash
# Replay the vendor document's example requests against a server, in the document's call
# order, as device FC-8190H24052799 would send them.
#
#   ./replay.sh                          # http://127.0.0.1:8080
#   ./replay.sh http://192.168.1.10:9000
#
# Prints each endpoint, the HTTP status and the server's answer. Exits non-zero if any
# request could not be sent or got an HTTP status other than 200.
# Regenerate the *.body / *.gz files with: python3 make_multipart.py
set -u

BASE_URL="${1:-http://127.0.0.1:8080}"
BASE_URL="${BASE_URL%/}"
cd "$(dirname "${BASH_SOURCE[0]}")" || exit 2

failures=0
answer=$(mktemp) || exit 2
trap 'rm -f "$answer"' EXIT

# send PATH FILE [extra curl options...]
send() {
    local path="$1" file="$2" status
    shift 2
    printf '==> POST %s%s  (%s)\n' "$BASE_URL" "$path" "$file"
    # "Expect:" (empty) stops curl from sending "Expect: 100-continue", which devices never do;
    # --compressed sends Accept-Encoding and inflates a gzip answer (protocol.md 3.4). A device
    # waits 30 s at most for an answer.
    if status=$(curl -sS --compressed --connect-timeout 5 --max-time 30 -H 'Expect:' "$@" \
        --data-binary "@$file" -o "$answer" -w '%{http_code}' "$BASE_URL$path"); then
        cat "$answer"
        printf '\n<== HTTP %s\n\n' "$status"
        [ "$status" = 200 ] || failures=$((failures + 1))
    else
        printf '<== curl failed (exit %s)\n\n' "$?"
        failures=$((failures + 1))
    fi
}

send_json() {
    send "$1" "$2" -H 'Content-Type: application/json'
}

send_json_gzip() {
    send "$1" "$2" -H 'Content-Type: application/json' -H 'Content-Encoding: gzip'
}

send_multipart() {
    local path="$1" name="$2"
    send "$path" "$name.body" -H "Content-Type: $(cat "$name.content-type")"
}

# Boot: keepalive, then the work settings (调用流程; protocol.md 1.3)
send_json      /Device/Keepalive                   Keepalive.json
send_json      /Device/UploadWorkSetting           UploadWorkSetting.json
send_json      /Device/Keepalive                   Keepalive.json
# What the keepalive answer asks for, then the backlog of records
send_json      /Device/DownloadWorkSetting         DownloadWorkSetting.json
send_multipart /Record/UploadIdentifyRecord        UploadIdentifyRecord
send_multipart /Record/UploadIdentifyRecord        UploadIdentifyRecord-RecordDetail
send_json      /Record/UploadSystemRecord          UploadSystemRecord.json
send_multipart /Device/UploadSnapshoot             UploadSnapshoot
send_json      /Device/RemoteCommand               RemoteCommand.json
send_multipart /Device/RegisterIdentifyTicketResult RegisterIdentifyTicketResult
send_multipart /Device/RegisterIdentifyTicketResult RegisterIdentifyTicketResult-duplicate
send_multipart /People/PushPeople                  PushPeople
send_json      /People/DeletePeopleList            DeletePeopleList.json
send_json      /People/DeletePeopleListResult      DeletePeopleListResult.json
send_json      /People/DownloadPeopleList          DownloadPeopleList.json
send_json      /People/DownloadPeopleListResult    DownloadPeopleListResult.json
send_multipart /Device/RequestAuthorization        RequestAuthorization
# Settings changed on the device, uploaded again with whole-body gzip (protocol.md 3.4, 6.2)
send_json_gzip /Device/UploadWorkSetting           UploadWorkSetting.json.gz
send_json      /Device/Keepalive                   Keepalive.json

if [ "$failures" -ne 0 ]; then
    printf '%d request(s) failed or got a non-200 status\n' "$failures"
    exit 1
fi
printf 'all requests answered with HTTP 200\n'
