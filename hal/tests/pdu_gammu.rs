//! Every PDU the kiosk sends must decode, in gammu (an independent decoder,
//! Debian's python3-gammu), back to the same number and text.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use kiosk_hal::modem::pdu::encode_submit;

/// Decodes each PDU with gammu; one JSON object per line comes back.
fn gammu_decode(pdus: &[String]) -> Vec<serde_json::Value> {
    const SCRIPT: &str = r#"
import gammu, json, sys
for line in sys.stdin:
    sms = gammu.DecodePDU(bytes.fromhex(line.strip()), SMSC=True)
    print(json.dumps({"number": sms["Number"], "text": sms["Text"], "coding": sms["Coding"],
                      "part": sms["UDH"]["PartNumber"], "parts": sms["UDH"]["AllParts"],
                      "ref": sms["UDH"]["ID8bit"]}))
"#;
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3 with python3-gammu (tests/run installs it)");
    let mut stdin = child.stdin.take().unwrap();
    for pdu in pdus {
        writeln!(stdin, "{pdu}").unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "gammu failed");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// gammu's own encoding of a single-part GSM-7 message, TPDU only.
fn gammu_encode_tpdu(destination: &str, text: &str) -> String {
    const SCRIPT: &str = r#"
import gammu, sys
sms = {"Number": sys.argv[1], "Text": sys.argv[2], "SMSC": {"Location": 0, "Number": ""},
       "Coding": "Default_No_Compression", "Class": -1, "Folder": 2, "InboxFolder": 0, "Memory": "",
       "Location": 0, "Name": "", "Type": "Submit", "UDH": {"Type": "NoUDH", "Text": b""},
       "State": "UnSent", "DeliveryStatus": 0, "ReplyViaSameSMSC": 0, "MessageReference": 0,
       "ReplaceMessage": 0, "RejectDuplicates": 0}
pdu = gammu.EncodePDU(sms, "Submit")
print(pdu[1 + pdu[0]:].hex().upper())
"#;
    let out = Command::new("/usr/bin/python3")
        .args(["-c", SCRIPT, destination, text])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Characters that take an escape septet in GSM-7.
fn escapes(text: &str) -> usize {
    text.chars()
        .filter(|c| "€[]{}~|^\\\u{c}".contains(*c))
        .count()
}

fn check(destination: &str, text: &str, expect_coding: &str, expect_parts: usize) {
    let pdus = encode_submit(destination, text, Duration::from_secs(300), 42).unwrap();
    assert_eq!(pdus.len(), expect_parts, "{text:?}");
    let decoded = gammu_decode(&pdus.iter().map(|p| p.hex.clone()).collect::<Vec<_>>());
    let mut joined = String::new();
    for (i, d) in decoded.iter().enumerate() {
        assert_eq!(d["number"], destination);
        assert_eq!(d["coding"], expect_coding, "{text:?}");
        if expect_parts > 1 {
            assert_eq!(
                (d["part"].as_i64(), d["parts"].as_i64(), d["ref"].as_i64()),
                (Some(i as i64 + 1), Some(expect_parts as i64), Some(42))
            );
        }
        let part = d["text"].as_str().unwrap();
        if expect_coding == "Default_No_Compression" {
            // gammu's decoder returns UDL characters, so one junk character
            // per escape septet trails the text (its own encoder's PDUs do
            // the same): keep the characters the septets really carry.
            let carried = part.chars().count() - escapes(part.split('\0').next().unwrap_or(""));
            joined.extend(part.chars().take(carried));
        } else {
            joined.push_str(part);
        }
    }
    assert_eq!(joined, text);
}

#[test]
fn the_policy_otp_text_decodes_as_one_gsm7_segment() {
    check(
        "+84912345678",
        "Ma OTP dang ky tai khoan Cong DVC cua ban la 482913. Ma co hieu luc 5 phut. Khong cung cap ma nay cho bat ky ai.",
        "Default_No_Compression",
        1,
    );
}

#[test]
fn gsm7_with_extension_characters_matches_gammus_own_encoder() {
    for text in [
        "a€b",
        "Price: 10€ [x] {y} ~z~ a|b ^ \\ @£$¥ ÄÖÑÜ§ äöñüà",
        "OTP 123456",
    ] {
        let ours =
            &encode_submit("+84912345678", text, Duration::from_secs(300), 1).unwrap()[0].hex[2..];
        assert_eq!(ours, gammu_encode_tpdu("+84912345678", text), "{text:?}");
    }
}

#[test]
fn extension_characters_decode() {
    // In UCS-2, gammu itself renders "~z~" as "~~z~~" (a PDU built with
    // Python's own UTF-16 encoder decodes the same way), so '~' is checked
    // in GSM-7 only.
    check(
        "+84368123456",
        "Giá: 10€ [x] {y} a|b ^ \\",
        "Unicode_No_Compression",
        1,
    );
    check(
        "+84368123456",
        "Price: 10€ [x] {y} ~z~ a|b ^ \\ @£$¥ ÄÖÑÜ§ äöñüà",
        "Default_No_Compression",
        1,
    );
}

#[test]
fn vietnamese_with_diacritics_decodes_as_ucs2() {
    check(
        "+84987654321",
        "Mã OTP đăng ký tài khoản của bạn là 123456. Không chia sẻ mã này.",
        "Unicode_No_Compression",
        1,
    );
}

#[test]
fn multipart_messages_decode_part_by_part() {
    let long_ascii: String = (0..40).map(|i| format!("Dong {i:02}. ")).collect();
    check("+84778123456", &long_ascii, "Default_No_Compression", 3);
    let long_vietnamese = "Cổng dịch vụ công tỉnh Quảng Ngãi xin thông báo: ".repeat(4);
    check(
        "+84912345678",
        &long_vietnamese,
        "Unicode_No_Compression",
        3,
    );
    let with_extension = format!("{}€{}", "a".repeat(152), "b".repeat(10));
    check("+84912345678", &with_extension, "Default_No_Compression", 2);
}
