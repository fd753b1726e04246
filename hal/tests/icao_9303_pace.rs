//! The worked example of ICAO Doc 9303 Part 11, Appendix G (PACE, generic
//! mapping, ECDH on brainpoolP256r1, AES-128: the MRZ `T22000129` born
//! 640812, expiring 101031), and AES-CMAC's own test vectors (RFC 4493).
//! Every value below is copied from those documents, not produced by this
//! code; the reader's steps and the chip's must reproduce them.

use kiosk_hal::card::bac::MrzKey;
use kiosk_hal::card::pace::{
    self, Curve, KeyPair, Password, card_access, decrypt_nonce, encrypt_nonce, session_keys,
    supported, token,
};
use kiosk_hal::card::sm::{Session, cmac8};
use zeroize::Zeroizing;

mod vectors;
use vectors::{arr, hex};

const K_PI: &str = "89DED1B2 6624EC1E 634C1989 302849DD";
const Z: &str = "95A3A016 522EE98D 01E76CB6 B98B42C3";
const S: &str = "3F00C4D3 9D153F2B 2A214A07 8D899B22";
const MAP_PRIVATE_PCD: &str =
    "7F4EF07B 9EA82FD7 8AD689B3 8D0BC78C F21F249D 953BC46F 4C6E1925 9C010F99";
const MAP_PUBLIC_PCD: &str = "04 7ACF3EFC 982EC455 65A4B155 129EFBC7 4650DCBF A6362D89 6FC70262 E0C2CC5E 544552DC B6725218 799115B5 5C9BAA6D 9F6BC3A9 618E70C2 5AF71777 A9C4922D";
const MAP_PUBLIC_IC: &str = "04 824FBA91 C9CBE26B EF53A0EB E7342A3B F178CEA9 F45DE0B7 0AA60165 1FBA3F57 30D8C879 AAA9C9F7 3991E61B 58F4D52E B87A0A0C 709A49DC 63719363 CCD13C54";
const H: &str = "04 60332EF2 450B5D24 7EF6D386 8397D398 852ED6E8 CAF6FFEE F6BF85CA 57057FD5 0840CA74 15BAF3E4 3BD414D3 5AA4608B 93A2CAF3 A4E3EA4E 82C9C13D 03EB7181";
const G_MAPPED: &str = "04 8CED63C9 1426D4F0 EB1435E7 CB1D74A4 6723A0AF 21C89634 F65A9AE8 7A9265E2 8C879506 743F8611 AC33645C 5B985C80 B5F09A0B 83407C1B 6A4D857A E76FE522";
const PRIVATE_PCD: &str = "A73FB703 AC1436A1 8E0CFA5A BB3F7BEC 7A070E7A 6788486B EE230C4A 22762595";
const PUBLIC_PCD: &str = "04 2DB7A64C 0355044E C9DF1905 14C625CB A2CEA487 54887122 F3A5EF0D 5EDD301C 3556F3B3 B186DF10 B857B58F 6A7EB80F 20BA5DC7 BE1D43D9 BF850149 FBB36462";
const PUBLIC_IC: &str = "04 9E880F84 2905B8B3 181F7AF7 CAA9F0EF B743847F 44A306D2 D28C1D9E C65DF6DB 7764B222 77A2EDDC 3C265A9F 018F9CB8 52E111B7 68B32690 4B59A019 3776F094";
const K: &str = "28768D20 701247DA E81804C9 E780EDE5 82A9996D B4A31502 0B273319 7DB84925";
const K_ENC: &str = "F5F0E35C 0D7161EE 6724EE51 3A0D9A7F";
const K_MAC: &str = "FE251C78 58B356B2 4514B3BD 5F4297D1";
const T_PCD: &str = "C2B0BD78 D94BA866";
const T_IC: &str = "3ABB9674 BCE93C08";

fn mrz() -> MrzKey {
    MrzKey::new("T22000129", "640812", "101031").unwrap()
}

#[test]
fn g1_card_access_names_ecdh_generic_mapping_on_brainpool() {
    let ef = hex("31 14 30 12 06 0A 04 00 7F 00 07 02 02 04 02 02 02 01 02 02 01 0D");
    let info = supported(&ef).unwrap();
    assert_eq!(info.curve, Curve::BrainpoolP256r1);
    assert_eq!(
        card_access(Curve::BrainpoolP256r1),
        ef,
        "the virtual card's"
    );
    // DH or another cipher: not for this reader.
    let mut dh = ef.clone();
    dh[15] = 0x01;
    assert_eq!(supported(&dh), None);
}

#[test]
fn g1_the_password_key_and_the_nonce() {
    assert_eq!(mrz().information().as_str(), "T22000129364081251010318");
    assert_eq!(Password::Mrz(&mrz()).key(), arr::<16>(K_PI));
    let s = decrypt_nonce(&arr(K_PI), &hex(Z)).unwrap();
    assert_eq!(*s, arr::<16>(S));
    // The chip's side encrypts it back.
    assert_eq!(encrypt_nonce(&arr(K_PI), &arr(S)), arr::<16>(Z));
}

#[test]
fn g1_the_nonce_is_mapped_to_a_new_generator() {
    let c = Curve::BrainpoolP256r1;
    let pcd = KeyPair::from_private(c, None, Zeroizing::new(hex(MAP_PRIVATE_PCD))).unwrap();
    assert_eq!(pcd.public, hex(MAP_PUBLIC_PCD));
    let h = c.mul(Some(&hex(MAP_PUBLIC_IC)), &pcd.private).unwrap();
    assert_eq!(h, hex(H));
    assert_eq!(c.map(&hex(S), &h).unwrap(), hex(G_MAPPED));
}

#[test]
fn g1_the_key_agreement_and_the_session_keys() {
    let c = Curve::BrainpoolP256r1;
    let pcd =
        KeyPair::from_private(c, Some(&hex(G_MAPPED)), Zeroizing::new(hex(PRIVATE_PCD))).unwrap();
    assert_eq!(pcd.public, hex(PUBLIC_PCD));
    let k = c.agree(&hex(PUBLIC_IC), &pcd.private).unwrap();
    assert_eq!(*k, hex(K));
    assert_eq!(session_keys(&k), (arr(K_ENC), arr(K_MAC)));
}

#[test]
fn g1_the_mutual_authentication_tokens() {
    assert_eq!(token(&arr(K_MAC), &hex(PUBLIC_IC)), arr::<8>(T_PCD));
    assert_eq!(token(&arr(K_MAC), &hex(PUBLIC_PCD)), arr::<8>(T_IC));
    // As GENERAL AUTHENTICATE carries them.
    assert_eq!(
        pace::wrap(0x85, &hex(T_PCD)),
        hex("7C 0A 85 08 C2 B0 BD 78 D9 4B A8 66")
    );
    assert_eq!(
        pace::auth_data(&hex("7C0A86083ABB9674BCE93C08"), 0x86),
        Some(&hex(T_IC)[..])
    );
}

#[test]
fn rfc4493_aes_cmac() {
    let key = arr::<16>("2b7e1516 28aed2a6 abf71588 09cf4f3c");
    assert_eq!(cmac8(&key, &[]), arr::<8>("bb1d6929 e9593728"));
    assert_eq!(
        cmac8(&key, &hex("6bc1bee2 2e409f96 e93d7e11 7393172a")),
        arr::<8>("070a16b4 6b4d4144")
    );
    assert_eq!(
        cmac8(
            &key,
            &hex(
                "6bc1bee2 2e409f96 e93d7e11 7393172a ae2d8a57 1e03ac9c 9eb76fac 45af8e51 30c81c46 a35ce411"
            )
        ),
        arr::<8>("dfa66747 de9ae630")
    );
}

#[test]
fn aes_secure_messaging_opens_at_the_other_end() {
    use kiosk_hal::card::apdu::Command;
    let (enc, mac) = (arr::<16>(K_ENC), arr::<16>(K_MAC));
    let (mut reader, mut chip) = (Session::aes(enc, mac), Session::aes(enc, mac));
    for n in 0..3u8 {
        let cmd = Command::new(0, 0xB0, 0, n).le(200);
        let opened = chip.open_command(&reader.protect(&cmd)).unwrap();
        assert_eq!((opened.ins, opened.p2, opened.le), (0xB0, n, Some(200)));
        let data = vec![n; 37 + usize::from(n) * 16];
        let r = reader
            .unprotect(&chip.protect_response(&data, 0x9000))
            .unwrap();
        assert_eq!((r.data, r.sw), (data, 0x9000));
    }
    assert_eq!(reader.ssc(), 6);
    // A flipped byte in the cryptogram is caught by the checksum.
    let mut tampered = reader.protect(&Command::new(0, 0xA4, 2, 0x0C).data(&[1, 1]));
    tampered[7] ^= 1;
    assert!(chip.open_command(&tampered).is_err());
}
