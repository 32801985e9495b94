//! The shrinking rules, checked natively on small generated images.

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder, Rgb, RgbImage, Rgba, RgbaImage};
use media_worker::{ShrinkError, Shrunk, shrink_file, shrink_pixels, square_file};

#[test]
fn an_orientation_6_landscape_jpeg_comes_out_portrait_and_turned_clockwise() {
    // Stored landscape with a red top-left corner; orientation 6 says "turn 90° clockwise
    // to show", which puts that corner at the top right.
    let stored = RgbImage::from_fn(64, 32, |x, y| {
        if x < 16 && y < 16 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        }
    });
    let file = with_exif(&jpeg(&stored), &exif(6, false));

    let shrunk = shrink_file(&file, 1600, 80).expect("shrinks");

    assert_eq!((shrunk.width(), shrunk.height()), (32, 64));
    let shown = decode(&shrunk);
    assert_eq!(shown.dimensions(), (32, 64));
    assert!(
        is_red(shown.get_pixel(28, 4)),
        "top right is {:?}",
        shown.get_pixel(28, 4)
    );
    assert!(
        !is_red(shown.get_pixel(4, 4)),
        "top left is {:?}",
        shown.get_pixel(4, 4)
    );
}

#[test]
fn a_picture_is_the_upright_middle_square_capped_at_max_edge() {
    // Stored landscape 96×32 with orientation 6: shown 32×96, tall. The stored middle
    // third (blue) is the shown middle third, the rest red.
    let stored = RgbImage::from_fn(96, 32, |x, _| {
        if (32..64).contains(&x) {
            Rgb([0, 0, 255])
        } else {
            Rgb([255, 0, 0])
        }
    });
    let file = with_exif(&jpeg(&stored), &exif(6, false));

    let square = square_file(&file, 16, 90).expect("a square");

    assert_eq!((square.width(), square.height()), (16, 16));
    let shown = decode(&square);
    for (x, y) in [(1, 1), (14, 14), (8, 8)] {
        assert!(
            !is_red(shown.get_pixel(x, y)),
            "{x},{y} is {:?}",
            shown.get_pixel(x, y)
        );
    }
    let small = square_file(&jpeg(&stored), 1600, 90).expect("a square");
    assert_eq!((small.width(), small.height()), (32, 32), "never enlarged");
}

#[test]
fn the_long_edge_is_capped_at_max_edge_keeping_the_aspect_ratio() {
    let (width, height) = (4000, 3000);
    let shrunk =
        shrink_pixels(&photo_like_rgba(width, height), width, height, 1600, 80).expect("shrinks");
    assert_eq!((shrunk.width(), shrunk.height()), (1600, 1200));
    assert_eq!(decode(&shrunk).dimensions(), (1600, 1200));

    let portrait = shrink_file(&jpeg(&photo_like(900, 2000)), 1000, 80).expect("shrinks");
    assert_eq!((portrait.width(), portrait.height()), (450, 1000));
}

#[test]
fn a_small_image_is_not_upscaled() {
    let shrunk = shrink_pixels(&photo_like_rgba(300, 200), 300, 200, 1600, 80).expect("shrinks");
    assert_eq!((shrunk.width(), shrunk.height()), (300, 200));

    let from_file = shrink_file(&jpeg(&photo_like(300, 200)), 1600, 80).expect("shrinks");
    assert_eq!(decode(&from_file).dimensions(), (300, 200));
}

#[test]
fn the_output_carries_no_metadata_even_when_the_input_had_gps_exif() {
    let file = with_exif(&jpeg(&photo_like(400, 300)), &exif(1, true));
    assert!(
        markers(&file).contains(&APP1),
        "the fixture must carry EXIF"
    );

    let shrunk = shrink_file(&file, 200, 80).expect("shrinks");

    let found = markers(shrunk.jpeg());
    // SOI, the JFIF APP0, quantisation and Huffman tables, the frame and the scan: no APP1
    // (EXIF, XMP), no APP2 (ICC), no COM, nor any other application segment.
    assert!(
        found
            .iter()
            .all(|m| matches!(m, 0xD8 | 0xE0 | 0xDB | 0xC0 | 0xC4 | 0xDA)),
        "{found:x?}"
    );
    assert!(!contains(shrunk.jpeg(), b"Exif\0\0"));
    assert!(!contains(shrunk.jpeg(), b"ICC_PROFILE"));
}

#[test]
fn a_png_with_alpha_is_flattened_onto_white() {
    // Left half transparent, right half opaque green.
    let image = RgbaImage::from_fn(40, 20, |x, _| {
        if x < 20 {
            Rgba([0, 0, 0, 0])
        } else {
            Rgba([0, 160, 0, 255])
        }
    });
    let mut png = Vec::new();
    PngEncoder::new(&mut png)
        .write_image(image.as_raw(), 40, 20, ExtendedColorType::Rgba8)
        .expect("encodes");

    let shrunk = shrink_file(&png, 1600, 90).expect("shrinks");

    let shown = decode(&shrunk);
    assert_eq!(shown.dimensions(), (40, 20));
    let white = shown.get_pixel(4, 10);
    assert!(
        white.0.iter().all(|&c| c > 245),
        "transparent became {white:?}"
    );
    let green = shown.get_pixel(34, 10);
    assert!(
        green[1] > 130 && green[0] < 40 && green[2] < 40,
        "opaque became {green:?}"
    );
}

#[test]
fn garbage_is_a_clean_error() {
    let noise: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert!(matches!(
        shrink_file(&noise, 1600, 80),
        Err(ShrinkError::Decode(_))
    ));
    assert!(matches!(
        shrink_file(&[], 1600, 80),
        Err(ShrinkError::Decode(_))
    ));

    let whole = jpeg(&photo_like(200, 100));
    let truncated = &whole[..whole.len() / 3];
    let error = shrink_file(truncated, 1600, 80).err();
    // A cut-off JPEG either fails to decode or decodes grey at the bottom; it never panics.
    assert!(
        matches!(error, None | Some(ShrinkError::Decode(_))),
        "{error:?}"
    );
    let header_only = &whole[..40];
    assert!(matches!(
        shrink_file(header_only, 1600, 80),
        Err(ShrinkError::Decode(_))
    ));

    let message = shrink_file(&noise, 1600, 80)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        message.starts_with("this file is not a photo we can read"),
        "{message}"
    );
}

#[test]
fn pixels_that_do_not_match_the_size_are_refused() {
    let error = shrink_pixels(&[0; 100], 10, 10, 1600, 80).err();
    assert!(
        matches!(
            error,
            Some(ShrinkError::PixelCount {
                expected: 400,
                actual: 100
            })
        ),
        "{error:?}"
    );
    assert!(matches!(
        shrink_pixels(&[], 0, 10, 1600, 80),
        Err(ShrinkError::Empty)
    ));
}

// --- fixtures -------------------------------------------------------------------------------

const APP1: u8 = 0xE1;

/// Smooth gradients and a few hard edges: something between noise and a flat colour.
fn photo_like(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
        let disc = ((fx - 0.5).powi(2) + (fy - 0.5).powi(2)) < 0.04;
        let wobble = ((x * 7 + y * 13) % 17) as f32;
        if disc {
            Rgb([230, 200, (40.0 + wobble) as u8])
        } else {
            Rgb([
                (fx * 200.0 + wobble) as u8,
                (fy * 180.0) as u8,
                ((1.0 - fx) * 150.0) as u8,
            ])
        }
    })
}

fn photo_like_rgba(width: u32, height: u32) -> Vec<u8> {
    let rgb = photo_like(width, height);
    rgb.pixels().flat_map(|p| [p[0], p[1], p[2], 255]).collect()
}

fn jpeg(image: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 92)
        .encode(
            image.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::Rgb8,
        )
        .expect("encodes");
    out
}

fn decode(shrunk: &Shrunk) -> RgbImage {
    image::load_from_memory(shrunk.jpeg())
        .expect("our output decodes")
        .into_rgb8()
}

fn is_red(pixel: &Rgb<u8>) -> bool {
    pixel[0] > 180 && pixel[2] < 80
}

/// A big-endian TIFF block, as in an EXIF APP1 segment: IFD0 with the orientation and,
/// when `gps`, a pointer to a GPS IFD holding a latitude reference.
fn exif(orientation: u16, gps: bool) -> Vec<u8> {
    let entries: u16 = if gps { 2 } else { 1 };
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    tiff.extend(entries.to_be_bytes());
    // Tag 0x0112 Orientation, type SHORT (3), count 1, value left-justified.
    tiff.extend([0x01, 0x12, 0, 3, 0, 0, 0, 1]);
    tiff.extend(orientation.to_be_bytes());
    tiff.extend([0, 0]);
    if gps {
        let gps_ifd = 8 + 2 + 12 * u32::from(entries) + 4;
        // Tag 0x8825 GPSInfo, type LONG (4), count 1, offset of the GPS IFD.
        tiff.extend([0x88, 0x25, 0, 4, 0, 0, 0, 1]);
        tiff.extend(gps_ifd.to_be_bytes());
    }
    tiff.extend([0, 0, 0, 0]); // no next IFD
    if gps {
        // One entry: tag 1 GPSLatitudeRef, ASCII (2), count 2, "N\0".
        tiff.extend([0, 1, 0, 1, 0, 2, 0, 0, 0, 2, b'N', 0, 0, 0, 0, 0, 0, 0]);
    }
    tiff
}

/// Inserts an EXIF APP1 segment right after the JPEG's SOI marker.
fn with_exif(jpeg: &[u8], tiff: &[u8]) -> Vec<u8> {
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(tiff);
    let length = u16::try_from(payload.len() + 2).expect("small");
    let mut out = jpeg[..2].to_vec();
    out.extend([0xFF, APP1]);
    out.extend(length.to_be_bytes());
    out.extend(payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// The markers of a JPEG's segments, from SOI up to and including SOS.
fn markers(jpeg: &[u8]) -> Vec<u8> {
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "not a JPEG");
    let mut found = vec![0xD8];
    let mut at = 2;
    while at + 4 <= jpeg.len() {
        assert_eq!(jpeg[at], 0xFF, "segment expected at {at}");
        let marker = jpeg[at + 1];
        found.push(marker);
        if marker == 0xDA {
            break;
        }
        let length = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        at += 2 + length;
    }
    found
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
