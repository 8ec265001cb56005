//! The stream splitter ([`Pieces`]): what the CLI and `kms-trail-objects` read files and S3
//! objects with, and what [`parse_with`](kms_alerts_core::parse_with) reads bodies with.

use std::io::{BufRead, BufReader, Read, Write};

use kms_alerts_core::{maybe_gunzip, Piece, Pieces, MAX_PIECE_BYTES};

/// The most decompressed bytes one run reads from input that is itself gzip: enough to pass
/// several caps, little enough to keep a run short (a bomb is bounded by the deadline in
/// `kms-trail-objects`, not by the splitter).
const GUNZIP_READ_MAX: u64 = 4 << 20;

type Split = Vec<Result<Piece, String>>;

fn split<R: BufRead>(reader: R, max_piece: usize) -> Split {
    let mut out = Vec::new();
    for piece in Pieces::new(reader, "input").max_piece_bytes(max_piece) {
        let failed = piece.is_err();
        out.push(piece.map_err(|e| e.to_string()));
        if failed {
            // Nothing comes after a broken framing.
            break;
        }
    }
    out
}

/// Splits `data` by every way the project reads bytes and checks they agree:
/// - read whole, or a few bytes at a time (a value split across reads is still whole), or
///   gzip-compressed through [`maybe_gunzip`] (an S3 object): the same pieces;
/// - with a small cap: each piece within it is the same piece, each over it is one
///   [`Piece::TooLarge`] of the same length, and the stream goes on after it;
/// - no piece kept is over its cap; a broken framing ends the stream.
pub fn stream_splitter(data: &[u8]) {
    let reference = split(data, MAX_PIECE_BYTES);
    for piece in reference.iter().flatten() {
        assert!(
            !matches!(piece, Piece::TooLarge { .. }),
            "a piece of a {}-byte input is over the 8 MiB cap",
            data.len()
        );
        assert!(piece.bytes().len() <= data.len());
    }
    let after_error = Pieces::new(data, "input")
        .skip_while(Result::is_ok)
        .skip(1)
        .count();
    assert_eq!(after_error, 0, "pieces after a framing error");

    // Read a few bytes at a time.
    let chunk = 1 + data.len() % 7;
    let small_reads = split(BufReader::with_capacity(chunk, data), MAX_PIECE_BYTES);
    assert_eq!(
        small_reads, reference,
        "reads of {chunk} bytes split differently"
    );

    // A small cap: the same pieces, those over it replaced by their size.
    let cap = 16 + data.len() % 113;
    let capped = split(BufReader::with_capacity(chunk, data), cap);
    assert_eq!(
        capped.len(),
        reference.len(),
        "a cap of {cap} changes the number of pieces: {capped:?} against {reference:?}"
    );
    for (n, (got, want)) in capped.iter().zip(&reference).enumerate() {
        match (got, want) {
            (Ok(got), Ok(want)) if want.bytes().len() <= cap => {
                assert_eq!(got, want, "piece {n} within the cap of {cap} differs")
            }
            (Ok(Piece::TooLarge { len, max, whole }), Ok(want)) => {
                assert_eq!(*len, want.bytes().len() as u64, "piece {n}: size");
                assert_eq!(*max, cap);
                assert_eq!(*whole, matches!(want, Piece::Whole(_)), "piece {n}: place");
            }
            (Err(got), Err(want)) => assert_eq!(got, want, "piece {n}: error"),
            (got, want) => {
                panic!("piece {n} with a cap of {cap}: {got:?}, without: {want:?}")
            }
        }
    }

    // Gzip-compressed (an S3 trail object): the same pieces once inflated.
    if data.len() <= 256 << 10 {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(data).expect("compressing into memory");
        let gz = gz.finish().expect("compressing into memory");
        let reader = maybe_gunzip(BufReader::with_capacity(chunk * 3, &gz[..]))
            .expect("reading from memory");
        assert_eq!(
            split(reader, MAX_PIECE_BYTES),
            reference,
            "the gzip-compressed input splits differently"
        );
    }

    // Bytes that are gzip themselves (the fuzzer's own deflate streams): read, bounded.
    if let Ok(reader) = maybe_gunzip(data) {
        let cap = 4096;
        for piece in split(reader.take(GUNZIP_READ_MAX), cap).iter().flatten() {
            assert!(piece.bytes().len() <= cap);
        }
    }
}
