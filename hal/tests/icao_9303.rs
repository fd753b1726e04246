//! The worked examples of ICAO Doc 9303 Part 11, Appendix D (BAC and
//! secure messaging for the MRZ `L898902C<3`, born 690806, expiring
//! 940623). Every value below is copied from the document, not produced by
//! this code; both ends (the reader and the chip of the virtual card) must
//! reproduce them.

use kiosk_hal::card::apdu::Command;
use kiosk_hal::card::bac::{self, MrzKey};
use kiosk_hal::card::sm::Session;

mod vectors;
use vectors::{arr, hex};

fn key() -> MrzKey {
    MrzKey::new("L898902C", "690806", "940623").unwrap()
}

const RND_IC: &str = "4608F91988702212";
const RND_IFD: &str = "781723860C06C226";
const K_IFD: &str = "0B795240CB7049B01C19B33E32804F0B";
const K_IC: &str = "0B4F80323EB3191CB04970CB4052790B";
const CMD_DATA: &str =
    "72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F76ED92F2 5F1448EEA8AD90A7";
const RESP_DATA: &str =
    "46B9342A41396CD7386BF5803104D7CEDC122B9132139BAF2EEDC94EE178534F 2F2D235D074D7449";
const KS_ENC: &str = "979EC13B1CBFE9DCD01AB0FED307EAE5";
const KS_MAC: &str = "F1CB1F1FB5ADF208806B89DC579DC1F8";
const SSC: u64 = 0x887022120C06C226;

#[test]
fn d2_the_access_keys_come_from_the_mrz_information() {
    let key = key();
    assert_eq!(&*key.information(), "L898902C<369080619406236");
    assert_eq!(*key.seed(), arr::<16>("239AB9CB282DAF66231DC5A4DF6BFBAE"));
    let (k_enc, k_mac) = key.keys();
    assert_eq!(*k_enc, arr::<16>("AB94FDECF2674FDFB9B391F85D7F76F2"));
    assert_eq!(*k_mac, arr::<16>("7962D9ECE03D1ACD4C76089DCE131543"));
}

#[test]
fn d3_the_reader_authenticates_as_the_document_shows() {
    let reader = bac::Reader::new(&key(), arr(RND_IC), arr(RND_IFD), arr(K_IFD));
    assert_eq!(reader.command_data(), hex(CMD_DATA));
    let session = reader.finish(&hex(RESP_DATA)).unwrap();
    assert_eq!(session.ssc(), u128::from(SSC));
    // The session keys, seen through the protected APDUs of D.4 below.
    let mut expected = Session::new(arr(KS_ENC), arr(KS_MAC), SSC);
    let select = Command::new(0, 0xA4, 2, 0x0C).data(&[0x01, 0x1E]);
    let mut session = session;
    assert_eq!(session.protect(&select), expected.protect(&select));
}

#[test]
fn d3_the_chip_answers_as_the_document_shows() {
    let (answer, mut session) =
        bac::chip_answer(&key(), &arr(RND_IC), &arr(K_IC), &hex(CMD_DATA)).unwrap();
    assert_eq!(answer, hex(RESP_DATA));
    assert_eq!(session.ssc(), u128::from(SSC));
    // Same session keys as the reader's: the D.4 response protects alike.
    let mut expected = Session::new(arr(KS_ENC), arr(KS_MAC), SSC + 1);
    session
        .open_command(&hex(
            "0CA4020C158709016375432908C044F68E08BF8B92D635FF24F800",
        ))
        .unwrap();
    assert_eq!(
        session.protect_response(&[], 0x9000),
        expected.protect_response(&[], 0x9000)
    );
}

#[test]
fn d3_a_reader_without_the_right_mrz_is_refused_by_the_chip() {
    let wrong = MrzKey::new("L898902C", "690806", "940624").unwrap();
    let reader = bac::Reader::new(&wrong, arr(RND_IC), arr(RND_IFD), arr(K_IFD));
    assert!(bac::chip_answer(&key(), &arr(RND_IC), &arr(K_IC), &reader.command_data()).is_none());
    // And the chip's genuine answer does not authenticate to that reader.
    assert_eq!(
        reader.finish(&hex(RESP_DATA)).unwrap_err(),
        bac::BacError::Mac
    );
}

/// D.4: SELECT EF.COM, READ BINARY of four bytes, READ BINARY of the
/// remaining eighteen, as the reader sends them and the chip answers.
const EXCHANGE: [(&str, &str, &str, &str); 3] = [
    (
        "00A4020C02011E",
        "0CA4020C158709016375432908C044F68E08BF8B92D635FF24F800",
        "990290008E08FA855A5D4C50A8ED9000",
        "",
    ),
    (
        "00B0000004",
        "0CB000000D9701048E08ED6705417E96BA5500",
        "8709019FF0EC34F9922651990290008E08AD55CC17140B2DED9000",
        "60145F01",
    ),
    (
        "00B0000412",
        "0CB000040D9701128E082EA28A70F3C7B53500",
        "871901FB9235F4E4037F2327DCC8964F1F9B8C30F42C8E2FFF224A990290008E08C8B2787EAEA07D749000",
        "04303130365F36063034303030305C026175",
    ),
];

#[test]
fn d4_the_reader_protects_and_opens_as_the_document_shows() {
    let mut s = Session::new(arr(KS_ENC), arr(KS_MAC), SSC);
    for (plain, protected, response, data) in EXCHANGE {
        let cmd = Command::parse(&hex(plain)).unwrap();
        assert_eq!(s.protect(&cmd), hex(protected), "{plain}");
        let r = s.unprotect(&hex(response)).unwrap();
        assert_eq!((r.data, r.sw), (hex(data), 0x9000), "{plain}");
    }
    assert_eq!(s.ssc(), u128::from(SSC + 6));
}

#[test]
fn d4_the_chip_opens_and_protects_as_the_document_shows() {
    let mut s = Session::new(arr(KS_ENC), arr(KS_MAC), SSC);
    for (plain, protected, response, data) in EXCHANGE {
        let cmd = s.open_command(&hex(protected)).unwrap();
        assert_eq!(cmd, Command::parse(&hex(plain)).unwrap(), "{plain}");
        assert_eq!(s.protect_response(&hex(data), 0x9000), hex(response));
    }
}

#[test]
fn d4_a_changed_byte_or_a_replayed_answer_is_refused() {
    let (_, protected, response, _) = EXCHANGE[1];
    let mut s = Session::new(arr(KS_ENC), arr(KS_MAC), SSC + 2);
    let mut bad = hex(response);
    bad[4] ^= 1;
    s.protect(&Command::parse(&hex("00B0000004")).unwrap());
    assert!(s.unprotect(&bad).is_err());

    // A success in clear, as a reader in the middle could forge, is not
    // taken for the chip's; an error in clear is.
    let mut s = Session::new(arr(KS_ENC), arr(KS_MAC), SSC + 2);
    s.protect(&Command::parse(&hex("00B0000004")).unwrap());
    assert!(s.unprotect(&hex("9000")).is_err());
    assert_eq!(s.unprotect(&hex("6A82")).unwrap().sw, 0x6A82);

    // The chip refuses a command replayed one step later.
    let mut chip = Session::new(arr(KS_ENC), arr(KS_MAC), SSC + 2);
    chip.open_command(&hex(protected)).unwrap();
    chip.protect_response(&[0x60, 0x14, 0x5F, 0x01], 0x9000);
    assert!(chip.open_command(&hex(protected)).is_err());
}

#[test]
fn printed_dates_become_the_mrz_s_yymmdd() {
    assert_eq!(bac::printed_date("06/08/1969").as_deref(), Some("690806"));
    assert_eq!(bac::printed_date(" 23/06/1994 ").as_deref(), Some("940623"));
    for bad in [
        "6/8/1969",
        "06-08-1969",
        "06/08/69",
        "aa/08/1969",
        "06/08/1969/1",
    ] {
        assert_eq!(bac::printed_date(bad), None, "{bad}");
    }
}

#[test]
fn check_digits_follow_the_7_3_1_rule() {
    // From the MRZ of the specimen in 9303-3 and the key above.
    assert_eq!(bac::check_digit("L898902C<"), 3);
    assert_eq!(bac::check_digit("690806"), 1);
    assert_eq!(bac::check_digit("940623"), 6);
    assert_eq!(bac::check_digit("D23145890"), 7);
}
