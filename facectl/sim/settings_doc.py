"""The device's settings document: the vendor document's UploadWorkSetting example.

A simulated device starts from the document's own request example (section
"API-上传当前设备参数"), kept verbatim below, with its misspelt wire names
(`FirmwareVerson`, `WiredGteway`, `Pasword`, ... protocol.md 3.9), its quoted-empty
`AlarmStatus` (3.7) and its duplicate `DeviceSN` (3.8). `default_settings`
parses it (last key wins), puts the simulated device's serial in `DeviceSN`
and sets the HTTP client fields a device using this protocol really has.
`example_text` gives the verbatim text with the serial substituted, for the
quirky-JSON variant that sends the document's duplicate key as it stands.
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any

from facectl.protocol.endpoints import PROTOCOL_TYPE_V2
from facectl.protocol.settings import IDENTITY_SETTING

#: Verbatim from the vendor document (UploadWorkSetting, 请求参数示例).
DOCUMENT_EXAMPLE = r"""
{
	   "DeviceSN": "FC-8200H12345675",
        "FireAlarm": 0,
        "DoorLongOpenAlarm": 0,
        "DoorLongOpenTime": 0,
        "DoorSensorAlarm": 0,
        "DoorSensorAlarmTimegroup": {
            "Week1": "",
            "Week2": "",
            "Week3": "",
            "Week4": "",
            "Week5": "",
            "Week6": "",
            "Week7": ""
        },
        "BlacklistAlarm": 1,
        "AntiDisassemblyAlarm": 1,
        "IllegalVerificationAlarm": 0,
        "IllegalVerificationAlarmLimit": 30,
        "UseUserCloseAlarm": 1,
        "PasswordAlarm": 0,
        "PasswordAlarm_Password": "",
        "PasswordAlarm_Mode": 1,
        "AlarmClocks": [
            {
                "Num": 1,
                "Clock": "00:00",
                "Times": 0
            },
            {
                "Num": 24,
                "Clock": "00:00",
                "Times": 0
            }
        ],
        "UseBodyTemperature": 1,
        "UseFahrenheitDisplay": 1,
        "TemperatureCompensate": 0,
        "TemperatureAlarmThreshold": 37.29999,
        "TemperatureDisplay": 1,
        "CardBytes": 3,
        "AccessType": 0,
        "WgFormat": 26,
        "WGContent": 1,
        "ReleaseTime": 3,
        "FreeOpen": 0,
        "OpenInterval": 2,
        "OpenInterval_SaveRecord": 0,
        "Relay": 0,
        "ShortMessage": "",
        "VerificationType": 1,
        "OverdueRemind": 1,
        "OverdueRemind_Day": 3,
        "TimingOpen": 0,
        "TimingOpen_mode": 1,
        "TimingOpen_timegroup": {
            "Week1": "",
            "Week2": "",
            "Week3": "",
            "Week4": "",
            "Week5": "",
            "Week6": "",
            "Week7": ""
        },
        "TimingLocked": 0,
        "TimingLocked_timegroup": {
            "Week1": "",
            "Week2": "",
            "Week3": "",
            "Week4": "",
            "Week5": "",
            "Week6": "",
            "Week7": ""
        },
        "VisitorRootPassword": "",
        "MultiPerson": 1,
        "UseElevator": 0,
        "ElevatorPorts": [
            {
                "Num": 1,
                "RelayType": 2,
                "ReleaseTime": 2,
                "TimingOpen": {
                    "Use": 0,
                    "Open": 3,
                    "Timegroup": {
                        "Week1": "",
                        "Week2": "",
                        "Week3": "",
                        "Week4": "",
                        "Week5": "",
                        "Week6": "",
                        "Week7": ""
                    }
                }
            },
            {
                "Num": 64,
                "RelayType": 2,
                "ReleaseTime": 2,
                "TimingOpen": {
                    "Use": 0,
                    "Open": 3,
                    "Timegroup": {
                        "Week1": "",
                        "Week7": ""
                    }
                }
            }
        ],
        "FaceIR": 1,
        "FaceIRThreshold": 5,
        "FaceDistance": 3,
        "FaceThreshold": 58,
        "FPComparison": 80,
        "FaceMask": 0,
        "FaceMaskThreshold": 65,
        "Holidays": [],
        "Language": 1,
        "SystemTime": 1718421632,
        "UseNTP": 1,
        "TimeZone": 8,
        "Volume": 6,
        "Voice": 1,
        "ConnectPassword": "",
        "UseWired": 1,
        "WiredDHCP": 0,
        "WiredIP": "192.168.1.103",
        "WiredIPMask": "255.255.255.0",
        "WiredGteway": "192.168.1.1",
        "WiredDNS": "192.168.1.1",
        "WiredMAC": "7E-87-16-C1-E6-51",
        "UseWIFI": 0,
        "WIFIDHCP": 0,
        "WIFIIP": "192.168.1.150",
        "WIFIIPMask": "255.255.255.0",
        "WIFIGteway": "192.168.1.1",
        "WIFIDNS": "192.168.1.1",
        "WIFIMAC": "34-7D-E4-2D-63-3B",
        "WIFIAPName": "",
        "WIFIAPPassword": "",
        "UseWebPage": 1,
        "HTTPPort": 80,
        "HTTPSPort": 443,
        "WebPageUseSSL": 1,
        "UseUDP": 1,
        "UDPPort": 8101,
        "UseTelnet": 1,
        "TelnetPort": 23,
        "UseRTSP": 1,
        "RTSPPort": 554,
        "RTSPUser": "admin",
        "RTSPPassword": "12345678",
        "UseTCPClient": 0,
        "UseUDPClient": 0,
        "ServerAddress": "47.92.31.75",
        "ServerPort": 9003,
        "KeepaliveTime": 30,
        "UseHTTPClient": 0,
        "HTTPClient_ProtocolType": 100,
        "HTTPClient_ServerAddr": "http://192.168.1.100",
        "HTTPClient_KeepaliveTime": 30,
        "HTTPClient_UseGZIP": 0,
        "UseMQTTClient": 0,
        "UseMQTTSSL": 0,
        "MQTTServerAddr": "192.168.1.100",
        "MQTTPort": 0,
        "MQTTLoginName": "",
        "MQTTLoginPassword": "",
        "MQTTPublishTopic": "",
        "MQTTSubscribeTopic": "",
        "MQTT_KeepaliveTime": 30,
        "MQTT_UseGZIP": 0,
        "UseWebsocketClient": 0,
        "WebsocketClient_ProtocolType": 100,
        "WebsocketClient_ServerAddr": "ws://192.168.1.100/ws",
        "WebsocketClient_UseGZIP": 0,
        "WebsocketClient_KeepaliveTime": 30,
        "UseYZW": 0,
        "YZWAddr": "http://192.168.1.10",
        "RunDays": 0,
        "FormatCount": 0,
        "WatchDogCount": 7,
        "BootTime": 1718418194,
        "RelayStatus": 0,
        "KeepOpenStatus": 0,
        "DoorSensorStatus": 0,
        "LockDoorStatus": 0,
        "AlarmStatus": "\"\"",
        "RecordAutoCycle": 0,
        "SaveUnregistered": 1,
        "SaveRecordPicture": 1,
        "PeopleStorageInfo": {
            "Person": {
                "Max": 20000,
                "Current": 1
            },
            "Face": {
                "Max": 20000,
                "Current": 1
            },
            "Card": {
                "Max": 20000,
                "Current": 0
            },
            "Fingerprint": {
                "Max": 0,
                "Current": 0
            },
            "PalmVein": {
                "Max": 10000,
                "Current": 0
            },
            "Pasword": {
                "Max": 20000,
                "Current": 0
            },
            "Admin": {
                "Max": 5,
                "Current": 0
            }
        },
        "RecordStorageInfo": {
            "VerifyRecord": {
                "Max": 1000000,
                "Current": 4
            },
            "DoorRecord": {
                "Max": 10000,
                "Current": 4
            },
            "SystemRecord": {
                "Max": 10000,
                "Current": 7
            },
            "RecordPhoto": {
                "Max": 10000,
                "Current": 4
            }
        },
        "DeviceSN": "FC-8190H24052799",
        "DeviceName": "",
        "FirmwareVerson": "8.46",
        "FingerprintVerson": "-",
        "FaceVerson": "6.01",
        "Manufacturer": "",
        "ManufacturerPhone": "",
        "Website": "",
        "ProductionDate": "2024-06-15",
        "OEMText": "",
        "AutoRestart": 0,
        "AutoRestartTime": "02:00",
        "TimeGroups": [
            {
                "Num": 1,
                "Week1": "00:00-23:59",
                "Week2": "00:00-23:59",
                "Week3": "00:00-23:59",
                "Week4": "00:00-23:59",
                "Week5": "00:00-23:59",
                "Week6": "00:00-23:59",
                "Week7": "00:00-23:59"
            },
            {
                "Num": 64,
                "Week1": "",
                "Week7": ""
            }
        ],
        "DisplayBrightness": 6,
        "MenuPassword": "0000",
        "ShowIR": 0,
        "ShowPersonPhoto": 1,
        "PlayPersonName": 1,
        "RecognitionButton": 0,
        "UnregisteredWarn": 0,
        "ShowPersonName": 1,
        "FillLight": 2,
		"FunctionList":	{
			"BodyTemperature":	true,
			"Fingerprint":	false,
			"Palmvein":	true,
			"Face":	true,
			"QRCode":	true,
			"FaceMask":	true,
			"SafetyHelmet":	false,
			"Lift":	true,
			"AlarmClock":	true,
			"ExcelFile":	false,
			"ZipFile":	false,
			"TimeGroup":	64,
			"WIFI":	true,
			"HTTPClient_V1":	true,
			"HTTPClient_V2":	true,
			"MQTT":	true,
			"YZW":	true,
			"Websocket_V1":	true,
			"Websocket_V2":	true
		}
}
"""  # noqa: E101 (verbatim: the document mixes tabs and spaces)

EXAMPLE_FIRST_SN = "FC-8200H12345675"
_SECOND_SN = "FC-8190H24052799"
_PARSED: dict[str, Any] = json.loads(DOCUMENT_EXAMPLE)
#: People the example device holds at most (PeopleStorageInfo.Person.Max): 20,000.
EXAMPLE_PERSON_CAPACITY: int = _PARSED["PeopleStorageInfo"]["Person"]["Max"]


def default_settings(
    sn: str, *, server_url: str = "", keepalive_seconds: int = 30, use_gzip: bool = False,
    now: float | None = None,
) -> dict[str, Any]:
    """The example document as this device's own: its SN, an HTTPv2 client, the boot time."""
    now = time.time() if now is None else now
    doc = copy.deepcopy(_PARSED)
    doc[IDENTITY_SETTING] = sn
    doc["UseHTTPClient"] = 1
    doc["HTTPClient_ProtocolType"] = PROTOCOL_TYPE_V2
    if server_url:
        doc["HTTPClient_ServerAddr"] = server_url
    doc["HTTPClient_KeepaliveTime"] = int(keepalive_seconds)
    doc["HTTPClient_UseGZIP"] = 1 if use_gzip else 0
    doc["BootTime"] = int(now)
    doc["SystemTime"] = int(now)
    return doc


def example_text(sn: str) -> str:
    """The document's example text with both of its DeviceSN values set to `sn` (protocol.md 3.8)."""
    return DOCUMENT_EXAMPLE.replace(EXAMPLE_FIRST_SN, sn).replace(_SECOND_SN, sn)


#: The firmware whose captured settings upload `firmware_925_settings` reproduces (protocol.md 8.5).
FIRMWARE_925 = "9.25"
#: Read-only keys firmware 9.25 reports that the document does not list (protocol.md 8.5).
FIRMWARE_925_STATUS = {
    "OnecardCloudStatus": 0, "HTTPClientStatus": 1, "MQTTClientStatus": 0,
    "WebsocketClientStatus": 0, "YZWClientStatus": 0,
}


def firmware_925_settings(sn: str, **options: Any) -> dict[str, Any]:
    """A settings upload shaped like firmware 9.25's (protocol.md 8.5), from `default_settings`.

    `UTCTimeZone: "UTC+08:00"` instead of `TimeZone`; the read-only keys the
    document lacks (`PalmveinVerson`, the `…Status` keys); the misspelt nested keys
    `FunctionList.TimeGreoup` and `PeopleStorageInfo.Pasword`; `null` values;
    hundreds of VideoCall / SIP / STUN / TURN / IPv6 keys; non-ASCII in a password.
    Keys keep the order a device prints them in, so the document is stable.
    """
    doc = default_settings(sn, **options)
    doc.pop("TimeZone")
    doc["UTCTimeZone"] = "UTC+08:00"
    doc["FirmwareVerson"] = FIRMWARE_925
    doc["PalmveinVerson"] = "5601"
    doc.update(FIRMWARE_925_STATUS)
    functions = doc["FunctionList"]
    functions["TimeGreoup"] = functions.pop("TimeGroup")
    doc["WIFIAPPassword"] = "门禁Wi-Fi密码ü"
    doc["ShortMessage"] = None
    doc["OEMText"] = None
    for i in range(1, 41):
        doc[f"VideoCall_Contact{i}_Name"] = f"房间 {i}" if i % 5 == 0 else ""
        doc[f"VideoCall_Contact{i}_Number"] = f"10{i:02d}"
        doc[f"VideoCall_Contact{i}_Type"] = i % 3
    for key in ("Use", "Server", "Port", "User", "Password", "Domain", "Transport", "Expires", "Realm"):
        for line in range(1, 9):
            doc[f"SIP{line}_{key}"] = None if key == "Realm" else (0 if key in ("Use", "Port", "Expires") else "")
    for proto in ("STUN", "TURN"):
        for key in ("Use", "Server", "Port", "User", "Password"):
            doc[f"{proto}_{key}"] = 0 if key in ("Use", "Port") else ""
    for iface in ("Wired", "WIFI"):
        for key in ("Use", "DHCP", "Address", "PrefixLength", "Gateway", "DNS1", "DNS2", "LinkLocal"):
            doc[f"{iface}IPv6_{key}"] = 0 if key in ("Use", "DHCP", "PrefixLength") else ""
    return doc
