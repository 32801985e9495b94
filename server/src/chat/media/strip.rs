//! Metadata removal without re-encoding. The web app strips photos before upload, but the
//! server cannot count on every client doing so: a phone's camera writes the place a photo
//! was taken into it. Stored images therefore keep only what displaying them needs.
//!
//! - JPEG: every APPn segment but JFIF (APP0), ICC profiles (APP2) and Adobe's colour
//!   transform (APP14), and every comment, are dropped; the EXIF orientation, when it is not
//!   the default, is kept in a minimal EXIF segment of its own, so the photo stays upright.
//! - PNG: text, EXIF and time chunks are dropped.
//! - WebP: the EXIF and XMP chunks are dropped and the header's flags say so.
//! - GIF: kept as it is. It has no EXIF; cameras and phones do not write GIF.
//!
//! Segments are copied byte for byte, so the pixels are untouched. A file whose structure
//! does not parse gives `None`, and the caller refuses it rather than keep what it could not
//! look through.

/// `bytes` of type `base` without their metadata, keeping `orientation` (EXIF 1 to 8).
pub fn strip_metadata(bytes: &[u8], base: &str, orientation: u8) -> Option<Vec<u8>> {
    match base {
        "image/jpeg" => strip_jpeg(bytes, orientation),
        "image/png" => strip_png(bytes),
        "image/webp" => strip_webp(bytes),
        "image/gif" => Some(bytes.to_vec()),
        _ => None,
    }
}

fn strip_jpeg(bytes: &[u8], orientation: u8) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(bytes.get(..2).filter(|soi| soi == &[0xFF, 0xD8])?);
    let mut at = 2;
    let mut orientation_written = orientation <= 1;
    loop {
        // Fill bytes (0xFF repeated) may precede a marker.
        while bytes.get(at) == Some(&0xFF) && bytes.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        let (&prefix, &marker) = (bytes.get(at)?, bytes.get(at + 1)?);
        if prefix != 0xFF {
            return None;
        }
        if marker == 0xDA || marker == 0xD9 {
            // Start of scan (or an image with none): the rest is image data.
            if !orientation_written {
                out.extend_from_slice(&orientation_segment(orientation));
            }
            out.extend_from_slice(&bytes[at..]);
            return Some(out);
        }
        if marker == 0x01 || (0xD0..=0xD7).contains(&marker) {
            // Markers without a length (TEM, RSTn), which decoders tolerate here.
            out.extend_from_slice(&bytes[at..at + 2]);
            at += 2;
            continue;
        }
        let length = usize::from(u16::from_be_bytes([
            *bytes.get(at + 2)?,
            *bytes.get(at + 3)?,
        ]));
        if length < 2 {
            return None;
        }
        let segment = bytes.get(at..at + 2 + length)?;
        let payload = &segment[4..];
        let keep = match marker {
            0xE0 => true,
            0xE2 => payload.starts_with(b"ICC_PROFILE\0"),
            0xEE => true,
            0xE1 | 0xE3..=0xED | 0xEF | 0xFE => false,
            _ => true,
        };
        if !orientation_written && !(0xE0..=0xEF).contains(&marker) {
            // After the application segments, before the tables and frame.
            out.extend_from_slice(&orientation_segment(orientation));
            orientation_written = true;
        }
        if keep {
            out.extend_from_slice(segment);
        }
        at += 2 + length;
    }
}

/// An APP1 segment holding EXIF with one entry: the orientation.
fn orientation_segment(orientation: u8) -> Vec<u8> {
    let mut tiff = Vec::with_capacity(26);
    tiff.extend_from_slice(b"MM\0\x2A\0\0\0\x08"); // big-endian, first IFD at 8
    tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
    tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_be_bytes()); // one value
    tiff.extend_from_slice(&[0, orientation, 0, 0]); // the value, padded to four bytes
    tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    let mut segment = vec![0xFF, 0xE1];
    let length = u16::try_from(2 + 6 + tiff.len()).unwrap_or(u16::MAX);
    segment.extend_from_slice(&length.to_be_bytes());
    segment.extend_from_slice(b"Exif\0\0");
    segment.extend_from_slice(&tiff);
    segment
}

fn strip_png(bytes: &[u8]) -> Option<Vec<u8>> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(bytes.get(..8).filter(|s| *s == SIGNATURE)?);
    let mut at = 8;
    while at < bytes.len() {
        let length = u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize;
        let chunk = bytes.get(at..at + 12 + length)?;
        let kind = &chunk[4..8];
        if !matches!(kind, b"tEXt" | b"zTXt" | b"iTXt" | b"eXIf" | b"tIME") {
            out.extend_from_slice(chunk);
        }
        at += 12 + length;
        if kind == b"IEND" {
            break;
        }
    }
    Some(out)
}

fn strip_webp(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.get(..4) != Some(b"RIFF") || bytes.get(8..12) != Some(b"WEBP") {
        return None;
    }
    let mut out = bytes[..12].to_vec();
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let size = u32::from_le_bytes(bytes.get(at + 4..at + 8)?.try_into().ok()?) as usize;
        if at + 8 + size > bytes.len() {
            return None;
        }
        // Chunks are padded to an even size (a missing last pad byte is tolerated).
        let end = (at + 8 + size + size % 2).min(bytes.len());
        let chunk = bytes.get(at..end)?;
        match &chunk[..4] {
            b"EXIF" | b"XMP " => {}
            b"VP8X" if chunk.len() > 8 => {
                let mut header = chunk.to_vec();
                header[8] &= !(0x08 | 0x04); // the EXIF and XMP flags
                out.extend_from_slice(&header);
            }
            _ => out.extend_from_slice(chunk),
        }
        at = end;
    }
    let riff_size = u32::try_from(out.len() - 8).ok()?;
    out[4..8].copy_from_slice(&riff_size.to_le_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use image::{DynamicImage, ImageBuffer, ImageDecoder, ImageFormat, ImageReader, Rgb};

    use super::*;

    fn encoded(format: ImageFormat) -> Vec<u8> {
        let image = DynamicImage::ImageRgb8(ImageBuffer::from_fn(60, 40, |x, y| {
            Rgb([(x * 4) as u8, (y * 6) as u8, 90])
        }));
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, format).expect("encode");
        out.into_inner()
    }

    /// An EXIF segment with a GPS latitude reference somewhere in it, as cameras write.
    fn gps_app1() -> Vec<u8> {
        let mut payload = b"Exif\0\0MM\0\x2A\0\0\0\x08".to_vec();
        payload.extend_from_slice(b"GPSLatitude 52.5200 N, secret place");
        let mut segment = vec![0xFF, 0xE1];
        segment.extend_from_slice(
            &u16::try_from(payload.len() + 2)
                .expect("small")
                .to_be_bytes(),
        );
        segment.extend_from_slice(&payload);
        segment
    }

    fn orientation_of(jpeg: &[u8]) -> u8 {
        let mut decoder = ImageReader::with_format(Cursor::new(jpeg), ImageFormat::Jpeg)
            .into_decoder()
            .expect("decoder");
        decoder.orientation().expect("orientation").to_exif()
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn a_jpeg_loses_its_exif_and_comments_but_keeps_its_pixels_and_orientation() {
        let plain = encoded(ImageFormat::Jpeg);
        let mut tagged = plain[..2].to_vec();
        tagged.extend_from_slice(&gps_app1());
        tagged.extend_from_slice(&[0xFF, 0xFE, 0x00, 0x07]);
        tagged.extend_from_slice(b"hello");
        tagged.extend_from_slice(&plain[2..]);

        let stripped = strip_metadata(&tagged, "image/jpeg", 6).expect("strips");
        assert!(!contains(&stripped, b"GPSLatitude"));
        assert!(!contains(&stripped, b"hello"));
        assert_eq!(orientation_of(&stripped), 6, "still upright once displayed");
        let before = image::load_from_memory(&plain).expect("decode").to_rgb8();
        let after = image::load_from_memory(&stripped)
            .expect("decode")
            .to_rgb8();
        assert_eq!(before, after, "the pixels are untouched");

        let default = strip_metadata(&tagged, "image/jpeg", 1).expect("strips");
        assert!(
            !contains(&default, b"Exif"),
            "no EXIF at all when nothing needs keeping"
        );
        assert_eq!(orientation_of(&default), 1);
    }

    #[test]
    fn a_png_loses_its_text_and_exif_chunks() {
        let plain = encoded(ImageFormat::Png);
        let text_chunk = |kind: &[u8; 4], data: &[u8]| {
            let mut chunk = u32::try_from(data.len())
                .expect("small")
                .to_be_bytes()
                .to_vec();
            chunk.extend_from_slice(kind);
            chunk.extend_from_slice(data);
            chunk.extend_from_slice(&[0, 0, 0, 0]); // the CRC is not checked by this pass
            chunk
        };
        let ihdr_end = 8 + 25;
        let mut tagged = plain[..ihdr_end].to_vec();
        tagged.extend_from_slice(&text_chunk(b"tEXt", b"Location\0secret place"));
        tagged.extend_from_slice(&text_chunk(b"eXIf", b"MM\0\x2AGPS"));
        tagged.extend_from_slice(&plain[ihdr_end..]);
        let stripped = strip_metadata(&tagged, "image/png", 1).expect("strips");
        assert_eq!(stripped, plain);
    }

    #[test]
    fn a_webp_loses_its_exif_chunk_and_flag() {
        let mut webp = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0".to_vec();
        webp.extend_from_slice(&[0x08, 0, 0, 0, 9, 0, 0, 9, 0, 0]);
        webp.extend_from_slice(b"VP8L\x02\0\0\0ab");
        webp.extend_from_slice(b"EXIF\x03\0\0\0GPS\0");
        let size = u32::try_from(webp.len() - 8).expect("small");
        webp[4..8].copy_from_slice(&size.to_le_bytes());
        let stripped = strip_metadata(&webp, "image/webp", 1).expect("strips");
        assert!(!contains(&stripped, b"GPS"));
        assert_eq!(stripped[20] & 0x08, 0, "the EXIF flag is cleared");
        assert_eq!(
            u32::from_le_bytes(stripped[4..8].try_into().expect("4 bytes")) as usize,
            stripped.len() - 8
        );
    }

    #[test]
    fn what_does_not_parse_is_refused_and_never_panics() {
        assert_eq!(strip_metadata(b"\xFF\xD8\x00", "image/jpeg", 1), None);
        for length in [0u8, 1] {
            let too_short = [0xFF, 0xD8, 0xFF, 0xE1, 0x00, length, 0xFF, 0xDA];
            assert_eq!(strip_metadata(&too_short, "image/jpeg", 1), None);
        }
        let cut_short = [0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x40, 1, 2, 3];
        assert_eq!(strip_metadata(&cut_short, "image/jpeg", 6), None);
        let png = b"\x89PNG\r\n\x1a\n\0\0\xFF\xFFIHDR";
        assert_eq!(strip_metadata(png, "image/png", 1), None);
        let webp = b"RIFF\0\0\0\0WEBPVP8X\xFF\xFF\xFF\x7F";
        assert_eq!(strip_metadata(webp, "image/webp", 1), None);
        let gif = strip_metadata(b"GIF89a", "image/gif", 1);
        assert_eq!(gif.as_deref(), Some(&b"GIF89a"[..]), "kept as it is");
    }

    #[test]
    fn markers_without_a_length_are_kept() {
        let mut jpeg = encoded(ImageFormat::Jpeg);
        // A stray RST0 among the header segments.
        jpeg.splice(2..2, [0xFF, 0xD0]);
        let stripped = strip_metadata(&jpeg, "image/jpeg", 1).expect("strips");
        assert_eq!(stripped, jpeg);
    }
}
