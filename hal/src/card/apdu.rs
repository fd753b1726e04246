//! Command and response APDUs (ISO/IEC 7816-4), short and extended.

/// A command APDU. `le` is the number of bytes expected: 256 and 65536 are
/// written as zeros.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub cla: u8,
    pub ins: u8,
    pub p1: u8,
    pub p2: u8,
    pub data: Vec<u8>,
    pub le: Option<usize>,
}

impl Command {
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> Command {
        Command {
            cla,
            ins,
            p1,
            p2,
            data: Vec::new(),
            le: None,
        }
    }

    pub fn data(mut self, data: &[u8]) -> Command {
        self.data = data.to_vec();
        self
    }

    pub fn le(mut self, le: usize) -> Command {
        self.le = Some(le);
        self
    }

    /// Extended when the data or the expected answer does not fit the
    /// short form.
    pub fn is_extended(&self) -> bool {
        self.data.len() > 255 || self.le.is_some_and(|le| le > 256)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.cla, self.ins, self.p1, self.p2];
        let extended = self.is_extended();
        if !self.data.is_empty() {
            if extended {
                out.push(0);
                out.extend_from_slice(&(self.data.len() as u16).to_be_bytes());
            } else {
                out.push(self.data.len() as u8);
            }
            out.extend_from_slice(&self.data);
        }
        if let Some(le) = self.le {
            let le = if le >= 65536 { 0 } else { le };
            if extended {
                if self.data.is_empty() {
                    out.push(0);
                }
                out.extend_from_slice(&(le as u16).to_be_bytes());
            } else {
                out.push(le as u8);
            }
        }
        out
    }

    /// Reads the four cases of ISO/IEC 7816-3 §12.1, short and extended.
    pub fn parse(raw: &[u8]) -> Option<Command> {
        let (&[cla, ins, p1, p2], body) = raw.split_first_chunk::<4>()?;
        let mut cmd = Command::new(cla, ins, p1, p2);
        let short_le = |b: u8| if b == 0 { 256 } else { usize::from(b) };
        let ext_le = |h: u8, l: u8| match u16::from_be_bytes([h, l]) {
            0 => 65536,
            n => usize::from(n),
        };
        match *body {
            [] => {}
            [le] => cmd.le = Some(short_le(le)),
            [0, h, l] => cmd.le = Some(ext_le(h, l)),
            [0, h, l, ref rest @ ..] if !rest.is_empty() => {
                let lc = usize::from(u16::from_be_bytes([h, l]));
                match rest.len().checked_sub(lc)? {
                    0 => {}
                    2 => cmd.le = Some(ext_le(rest[lc], rest[lc + 1])),
                    _ => return None,
                }
                if lc == 0 {
                    return None;
                }
                cmd.data = rest[..lc].to_vec();
            }
            [lc, ref rest @ ..] => {
                let lc = usize::from(lc);
                match rest.len().checked_sub(lc)? {
                    0 => {}
                    1 => cmd.le = Some(short_le(rest[lc])),
                    _ => return None,
                }
                cmd.data = rest[..lc].to_vec();
            }
        }
        Some(cmd)
    }
}

/// A response: data and the status word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub data: Vec<u8>,
    pub sw: u16,
}

impl Response {
    pub fn parse(raw: &[u8]) -> Option<Response> {
        let (data, sw) = raw.split_last_chunk::<2>()?;
        Some(Response {
            data: data.to_vec(),
            sw: u16::from_be_bytes(*sw),
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.data.clone();
        out.extend_from_slice(&self.sw.to_be_bytes());
        out
    }

    pub fn is_ok(&self) -> bool {
        self.sw == 0x9000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_four_cases_round_trip_short_and_extended() {
        let cases = [
            Command::new(0, 0x84, 0, 0),
            Command::new(0, 0x84, 0, 0).le(8),
            Command::new(0, 0x84, 0, 0).le(256),
            Command::new(0, 0xB0, 0, 0).le(4096),
            Command::new(0, 0xB0, 0, 0).le(65536),
            Command::new(0, 0xA4, 2, 0x0C).data(&[1, 0x1E]),
            Command::new(0, 0x82, 0, 0).data(&[7; 40]).le(40),
            Command::new(0x0C, 0xB0, 0, 0).data(&[7; 300]),
            Command::new(0x0C, 0xB0, 0, 0).data(&[7; 300]).le(65536),
            Command::new(0x0C, 0xB0, 0, 0).data(&[7; 20]).le(65536),
        ];
        for c in cases {
            assert_eq!(Command::parse(&c.encode()), Some(c.clone()), "{c:?}");
        }
        assert_eq!(
            Command::new(0, 0xA4, 4, 0x0C)
                .data(&[0xA0, 0, 0, 2, 0x47, 0x10, 0x01])
                .encode(),
            [0, 0xA4, 4, 0x0C, 7, 0xA0, 0, 0, 2, 0x47, 0x10, 0x01]
        );
    }

    #[test]
    fn lengths_that_disagree_with_the_body_are_refused() {
        assert_eq!(Command::parse(&[0, 0xA4, 2, 0x0C, 3, 1]), None);
        assert_eq!(Command::parse(&[0, 0xA4, 2, 0x0C, 1, 1, 2, 3]), None);
        assert_eq!(Command::parse(&[0, 0xA4, 2]), None);
    }
}
