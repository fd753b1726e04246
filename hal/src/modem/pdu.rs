//! SMS-SUBMIT in PDU mode (3GPP TS 23.040), with the GSM 7-bit default
//! alphabet and its extension table or UCS-2 (TS 23.038), concatenated with
//! a user-data header when the text needs more than one segment.

use std::time::Duration;

/// The GSM 7-bit default alphabet, indexed by septet.
const GSM7: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{1b}', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// Characters reached through the escape septet 0x1B.
const GSM7_EXTENSION: [(char, u8); 10] = [
    ('\u{0c}', 0x0A),
    ('^', 0x14),
    ('{', 0x28),
    ('}', 0x29),
    ('\\', 0x2F),
    ('[', 0x3C),
    ('~', 0x3D),
    (']', 0x3E),
    ('|', 0x40),
    ('€', 0x65),
];

const ESCAPE: u8 = 0x1B;

/// The septets of one character: one, two (escape + extension), or `None`
/// when the character is not in the GSM alphabet.
fn gsm7_septets(c: char) -> Option<([u8; 2], usize)> {
    if c != '\u{1b}'
        && let Some(i) = GSM7.iter().position(|&g| g == c)
    {
        return Some(([i as u8, 0], 1));
    }
    GSM7_EXTENSION
        .iter()
        .find(|(e, _)| *e == c)
        .map(|(_, code)| ([ESCAPE, *code], 2))
}

/// Whether `text` can be sent in the GSM 7-bit alphabet.
pub fn fits_gsm7(text: &str) -> bool {
    text.chars().all(|c| gsm7_septets(c).is_some())
}

/// The data coding chosen for a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Gsm7,
    Ucs2,
}

/// Why a message cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PduError {
    #[error("the destination must be in international format, + and 7 to 15 digits")]
    BadDestination,
    #[error("the message is empty")]
    Empty,
    #[error("the message needs {0} segments; at most 255 fit a concatenated SMS")]
    TooLong(usize),
}

/// One SMS-SUBMIT ready for `AT+CMGS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitPdu {
    /// SMSC length octet (0: use the SIM's SMSC) followed by the TPDU, in hex.
    pub hex: String,
    /// The `<length>` argument of `AT+CMGS`: TPDU octets, without the SMSC part.
    pub tpdu_len: usize,
}

/// TP-VP in relative format: the smallest code that covers `validity`,
/// capped at 63 weeks.
pub fn relative_validity(validity: Duration) -> u8 {
    let minutes = validity.as_secs().div_ceil(60);
    if minutes <= 12 * 60 {
        (minutes.div_ceil(5).max(1) - 1) as u8
    } else if minutes <= 24 * 60 {
        (143 + (minutes - 12 * 60).div_ceil(30)) as u8
    } else if minutes <= 30 * 24 * 60 {
        (166 + minutes.div_ceil(24 * 60)) as u8
    } else {
        (192 + minutes.div_ceil(7 * 24 * 60)).min(255) as u8
    }
}

/// Packs septets into octets, starting `offset_bits` into the buffer
/// (after a user-data header, so that the text starts on a septet boundary).
fn pack_septets(out: &mut Vec<u8>, offset_bits: usize, septets: &[u8]) {
    let total_bits = offset_bits + septets.len() * 7;
    out.resize(total_bits.div_ceil(8), 0);
    for (i, &s) in septets.iter().enumerate() {
        let bit = offset_bits + i * 7;
        let (byte, shift) = (bit / 8, bit % 8);
        out[byte] |= s << shift;
        if shift > 1 {
            out[byte + 1] |= s >> (8 - shift);
        }
    }
}

/// Semi-octet BCD of the digits, low nibble first, `F`-padded.
fn bcd_address(digits: &str) -> Vec<u8> {
    let d: Vec<u8> = digits.bytes().map(|b| b - b'0').collect();
    d.chunks(2)
        .map(|pair| pair[0] | (pair.get(1).copied().unwrap_or(0x0F) << 4))
        .collect()
}

/// Splits the text into segments of whole characters: GSM-7 counts septets
/// (an extension character is two, never split), UCS-2 counts UTF-16 units
/// (a surrogate pair is never split).
fn segments(text: &str, coding: Coding) -> Vec<Vec<u8>> {
    let (single, multi) = match coding {
        Coding::Gsm7 => (160, 153),
        Coding::Ucs2 => (140, 134),
    };
    let units: Vec<Vec<u8>> = text
        .chars()
        .map(|c| match coding {
            Coding::Gsm7 => {
                let (s, n) = gsm7_septets(c).expect("checked by fits_gsm7");
                s[..n].to_vec()
            }
            Coding::Ucs2 => {
                let mut buf = [0u16; 2];
                c.encode_utf16(&mut buf)
                    .iter()
                    .flat_map(|u| u.to_be_bytes())
                    .collect()
            }
        })
        .collect();
    let total: usize = units.iter().map(Vec::len).sum();
    if total <= single {
        return vec![units.concat()];
    }
    let mut parts = vec![Vec::new()];
    for unit in units {
        if parts.last().expect("non-empty").len() + unit.len() > multi {
            parts.push(Vec::new());
        }
        parts.last_mut().expect("non-empty").extend(unit);
    }
    parts
}

/// Encodes `text` to `destination` (`+84…`) as one or more SMS-SUBMIT PDUs.
/// `reference` tells the parts of one concatenated message apart.
pub fn encode_submit(
    destination: &str,
    text: &str,
    validity: Duration,
    reference: u8,
) -> Result<Vec<SubmitPdu>, PduError> {
    let digits = destination
        .strip_prefix('+')
        .ok_or(PduError::BadDestination)?;
    if !(7..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PduError::BadDestination);
    }
    if text.is_empty() {
        return Err(PduError::Empty);
    }
    let coding = if fits_gsm7(text) {
        Coding::Gsm7
    } else {
        Coding::Ucs2
    };
    let parts = segments(text, coding);
    if parts.len() > 255 {
        return Err(PduError::TooLong(parts.len()));
    }
    let concatenated = parts.len() > 1;
    let total = parts.len() as u8;
    Ok(parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            let mut tpdu = Vec::with_capacity(160);
            // SMS-SUBMIT, relative validity, user-data header when concatenated.
            tpdu.push(0x01 | 0x10 | if concatenated { 0x40 } else { 0 });
            tpdu.push(0x00); // TP-MR: the modem assigns it
            tpdu.push(digits.len() as u8);
            tpdu.push(0x91); // international, ISDN numbering plan
            tpdu.extend(bcd_address(digits));
            tpdu.push(0x00); // TP-PID
            tpdu.push(match coding {
                Coding::Gsm7 => 0x00,
                Coding::Ucs2 => 0x08,
            });
            tpdu.push(relative_validity(validity));
            let udh: Vec<u8> = if concatenated {
                vec![0x05, 0x00, 0x03, reference, total, i as u8 + 1]
            } else {
                Vec::new()
            };
            match coding {
                Coding::Gsm7 => {
                    let header_septets = (udh.len() * 8).div_ceil(7);
                    tpdu.push((header_septets + part.len()) as u8);
                    let mut ud = udh.clone();
                    pack_septets(&mut ud, header_septets * 7, part);
                    tpdu.extend(ud);
                }
                Coding::Ucs2 => {
                    tpdu.push((udh.len() + part.len()) as u8);
                    tpdu.extend(&udh);
                    tpdu.extend(part);
                }
            }
            let mut hex = String::from("00");
            for b in &tpdu {
                hex.push_str(&format!("{b:02X}"));
            }
            SubmitPdu {
                hex,
                tpdu_len: tpdu.len(),
            }
        })
        .collect())
}

/// What a simulator or a test reads back out of an SMS-SUBMIT: destination,
/// text and concatenation header. The kiosk never decodes SMS; the tests
/// check this decoder against gammu's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedSubmit {
    pub destination: String,
    pub text: String,
    /// (reference, total, sequence) when concatenated.
    pub part: Option<(u8, u8, u8)>,
}

/// Decodes the hex of an SMS-SUBMIT with a leading SMSC part.
pub fn decode_submit(hex: &str) -> Option<DecodedSubmit> {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<_>>()?;
    let mut p = 1 + usize::from(*bytes.first()?);
    let first = *bytes.get(p)?;
    let has_udh = first & 0x40 != 0;
    let vpf = (first >> 3) & 0x03;
    p += 2; // first octet, TP-MR
    let digits = usize::from(*bytes.get(p)?);
    let toa = *bytes.get(p + 1)?;
    let addr = bytes.get(p + 2..p + 2 + digits.div_ceil(2))?;
    let mut destination = String::new();
    if toa == 0x91 {
        destination.push('+');
    }
    for b in addr {
        for nibble in [b & 0x0F, b >> 4] {
            if nibble < 10 {
                destination.push(char::from(b'0' + nibble));
            }
        }
    }
    p += 2 + digits.div_ceil(2);
    let dcs = *bytes.get(p + 1)?;
    p += 2 + match vpf {
        0 => 0,
        2 => 1,
        _ => 7,
    };
    let udl = usize::from(*bytes.get(p)?);
    let ud = bytes.get(p + 1..)?;
    let (udh_len, part) = if has_udh {
        let udhl = usize::from(*ud.first()?);
        let ie = ud.get(1..1 + udhl)?;
        // Concatenation (IE 0x00, three octets) when the header is one;
        // any header too short for what it claims is no concatenation.
        let part = match ie {
            [0x00, 0x03, reference, total, sequence, ..] => Some((*reference, *total, *sequence)),
            _ => None,
        };
        (udhl + 1, part)
    } else {
        (0, None)
    };
    let text = if dcs & 0x0C == 0x08 {
        let body = ud.get(udh_len..udl)?;
        char::decode_utf16(
            body.chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])),
        )
        .collect::<Result<String, _>>()
        .ok()?
    } else {
        let header_septets = (udh_len * 8).div_ceil(7);
        let mut septets = Vec::with_capacity(udl);
        for i in header_septets..udl {
            let bit = i * 7;
            let (byte, shift) = (bit / 8, bit % 8);
            let lo = u16::from(*ud.get(byte)?);
            let hi = u16::from(ud.get(byte + 1).copied().unwrap_or(0));
            septets.push((((hi << 8 | lo) >> shift) & 0x7F) as u8);
        }
        let mut text = String::new();
        let mut it = septets.into_iter();
        while let Some(s) = it.next() {
            if s == ESCAPE {
                let code = it.next()?;
                text.push(GSM7_EXTENSION.iter().find(|(_, c)| *c == code)?.0);
            } else {
                text.push(GSM7[usize::from(s)]);
            }
        }
        text
    };
    Some(DecodedSubmit {
        destination,
        text,
        part,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FIVE_MINUTES: Duration = Duration::from_secs(300);

    #[test]
    fn a_short_ascii_text_is_one_gsm7_pdu() {
        let pdus = encode_submit("+84912345678", "hello", FIVE_MINUTES, 1).unwrap();
        // Hand-assembled from TS 23.040 and confirmed by gammu.
        assert_eq!(
            pdus,
            vec![SubmitPdu {
                hex: "0011000B914819325476F800000005E8329BFD06".into(),
                tpdu_len: 19
            }]
        );
    }

    #[test]
    fn a_user_data_header_shorter_than_its_element_is_no_panic() {
        // UDHI set, UDHL 2: the concatenation element 00 03 is cut before
        // its reference, total and sequence.
        for udh in ["020003", "0100", "03000301"] {
            let udl = udh.len() / 2 + 1;
            let hex = format!("0041000B914819325476F80000{udl:02X}{udh}41");
            let decoded = decode_submit(&hex).expect("the PDU still decodes");
            assert_eq!(decoded.part, None, "{udh}");
            assert_eq!(decoded.destination, "+84912345678");
        }
    }

    #[test]
    fn validity_codes_follow_the_four_ranges() {
        assert_eq!(relative_validity(Duration::from_secs(300)), 0);
        assert_eq!(relative_validity(Duration::from_secs(301)), 1);
        assert_eq!(relative_validity(Duration::from_secs(12 * 3600)), 143);
        assert_eq!(relative_validity(Duration::from_secs(13 * 3600)), 145);
        assert_eq!(relative_validity(Duration::from_secs(2 * 86400)), 168);
        assert_eq!(relative_validity(Duration::from_secs(35 * 86400)), 197);
        assert_eq!(relative_validity(Duration::from_secs(10_000 * 86400)), 255);
    }

    #[test]
    fn extension_characters_take_two_septets_and_are_never_split() {
        // 152 + 2 + 10 septets: two parts; the first has room for 153, so
        // the two-septet € must move whole into the second.
        let text = format!("{}€{}", "a".repeat(152), "b".repeat(10));
        let pdus = encode_submit("+84912345678", &text, FIVE_MINUTES, 9).unwrap();
        assert_eq!(pdus.len(), 2);
        let first = decode_submit(&pdus[0].hex).unwrap();
        let second = decode_submit(&pdus[1].hex).unwrap();
        assert_eq!(first.text, "a".repeat(152));
        assert_eq!(second.text, format!("€{}", "b".repeat(10)));
        assert_eq!(
            (first.part, second.part),
            (Some((9, 2, 1)), Some((9, 2, 2)))
        );
    }

    #[test]
    fn vietnamese_with_diacritics_goes_as_ucs2() {
        let text = "Mã OTP của bạn là 123456";
        assert!(!fits_gsm7(text));
        let pdus = encode_submit("+84987654321", text, FIVE_MINUTES, 1).unwrap();
        assert_eq!(pdus.len(), 1);
        // TP-DCS is TPDU octet 11 for an 11-digit destination: UCS-2.
        assert_eq!(&pdus[0].hex[2 + 2 * 11..2 + 2 * 12], "08");
        assert_eq!(decode_submit(&pdus[0].hex).unwrap().text, text);
    }

    #[test]
    fn the_boundaries_of_one_segment() {
        let one = |t: &str| {
            encode_submit("+84912345678", t, FIVE_MINUTES, 1)
                .unwrap()
                .len()
        };
        assert_eq!(one(&"x".repeat(160)), 1);
        assert_eq!(one(&"x".repeat(161)), 2);
        assert_eq!(one(&"ư".repeat(70)), 1);
        assert_eq!(one(&"ư".repeat(71)), 2);
        assert_eq!(one(&"x".repeat(153 * 3)), 3);
    }

    #[test]
    fn bad_destinations_and_empty_texts_are_refused() {
        assert_eq!(
            encode_submit("0912345678", "x", FIVE_MINUTES, 1),
            Err(PduError::BadDestination)
        );
        assert_eq!(
            encode_submit("+84 912", "x", FIVE_MINUTES, 1),
            Err(PduError::BadDestination)
        );
        assert_eq!(
            encode_submit("+84912345678", "", FIVE_MINUTES, 1),
            Err(PduError::Empty)
        );
    }

    proptest! {
        #[test]
        fn every_text_round_trips_through_its_segments(text in "[ -~àèéùìòÇ€\\[\\]{}|^~\\\\ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ😀]{1,400}", reference in any::<u8>()) {
            let pdus = encode_submit("+84912345678", &text, FIVE_MINUTES, reference).unwrap();
            let mut joined = String::new();
            for (i, pdu) in pdus.iter().enumerate() {
                prop_assert_eq!(pdu.hex.len(), 2 + 2 * pdu.tpdu_len);
                let decoded = decode_submit(&pdu.hex).unwrap();
                prop_assert_eq!(&decoded.destination, "+84912345678");
                if pdus.len() > 1 {
                    prop_assert_eq!(decoded.part, Some((reference, pdus.len() as u8, i as u8 + 1)));
                }
                joined.push_str(&decoded.text);
            }
            prop_assert_eq!(joined, text);
        }
    }
}
