//! BER-TLV as the chip's files and secure messaging use it: tags of one to
//! three bytes, definite lengths up to four bytes.

/// One data object, borrowed from the bytes it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The tag with all its bytes (`0x5F1F`, `0x61`, `0x7F61`).
    pub tag: u32,
    pub value: &'a [u8],
    /// The whole object: tag, length and value.
    pub raw: &'a [u8],
}

impl Tlv<'_> {
    /// A constructed object (bit 6 of the first tag byte) holds others.
    pub fn is_constructed(&self) -> bool {
        self.raw[0] & 0x20 != 0
    }
}

/// The tag and length at the start of `bytes`: (tag, header length, value
/// length). `None` when they are malformed or cut short.
pub fn header(bytes: &[u8]) -> Option<(u32, usize, usize)> {
    let first = *bytes.first()?;
    if first == 0x00 || first == 0xFF {
        return None;
    }
    let mut tag = u32::from(first);
    let mut at = 1;
    if first & 0x1F == 0x1F {
        loop {
            let b = *bytes.get(at)?;
            tag = (tag << 8) | u32::from(b);
            at += 1;
            if b & 0x80 == 0 {
                break;
            }
            if at >= 4 {
                return None;
            }
        }
    }
    let l = *bytes.get(at)?;
    at += 1;
    let len = match l {
        0..=0x7F => usize::from(l),
        0x81..=0x84 => {
            let n = usize::from(l & 0x7F);
            let mut len = 0usize;
            for _ in 0..n {
                len = (len << 8) | usize::from(*bytes.get(at)?);
                at += 1;
            }
            len
        }
        _ => return None,
    };
    Some((tag, at, len))
}

/// The object at the start of `bytes` and what follows it.
pub fn parse(bytes: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (tag, head, len) = header(bytes)?;
    let end = head.checked_add(len)?;
    if end > bytes.len() {
        return None;
    }
    Some((
        Tlv {
            tag,
            value: &bytes[head..end],
            raw: &bytes[..end],
        },
        &bytes[end..],
    ))
}

/// Every object in `bytes`, which must hold nothing else.
pub fn parse_all(mut bytes: &[u8]) -> Option<Vec<Tlv<'_>>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (t, rest) = parse(bytes)?;
        out.push(t);
        bytes = rest;
    }
    Some(out)
}

/// The first object tagged `tag` directly inside `bytes`.
pub fn find(bytes: &[u8], tag: u32) -> Option<Tlv<'_>> {
    parse_all(bytes)?.into_iter().find(|t| t.tag == tag)
}

/// A length in BER's definite form.
pub fn encode_length(len: usize, out: &mut Vec<u8>) {
    match len {
        0..=0x7F => out.push(len as u8),
        0x80..=0xFF => out.extend([0x81, len as u8]),
        0x100..=0xFFFF => out.extend([0x82, (len >> 8) as u8, len as u8]),
        _ => out.extend([0x83, (len >> 16) as u8, (len >> 8) as u8, len as u8]),
    }
}

/// `tag` (one to three bytes, as written) around `value`.
pub fn encode(tag: u32, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 6);
    let bytes = tag.to_be_bytes();
    let skip = bytes.iter().take(3).take_while(|&&b| b == 0).count();
    out.extend_from_slice(&bytes[skip..]);
    encode_length(value.len(), &mut out);
    out.extend_from_slice(value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_round_trip_at_every_length_form() {
        for len in [0usize, 1, 127, 128, 255, 256, 4000, 70_000] {
            let value = vec![0xAB; len];
            for tag in [0x87u32, 0x5F1F, 0x7F61] {
                let raw = encode(tag, &value);
                let (t, rest) = parse(&raw).unwrap();
                assert_eq!((t.tag, t.value.len(), rest.len()), (tag, len, 0));
            }
        }
    }

    #[test]
    fn cut_or_overlong_objects_are_refused() {
        let raw = encode(0x61, &[1, 2, 3]);
        assert!(parse(&raw[..raw.len() - 1]).is_none());
        assert!(parse(&[0x61, 0x85, 0, 0, 0, 0, 1]).is_none());
        assert!(parse(&[0x5F]).is_none());
        assert!(parse_all(&[0x80, 0x01]).is_none());
    }
}
