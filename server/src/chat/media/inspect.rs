//! What the server finds in uploaded bytes, never trusting what the client declared: the
//! real type (from magic bytes), an image's real dimensions (read from its header before
//! anything is decoded, so a decompression bomb is refused without allocating its canvas),
//! a thumbnail, a tiny placeholder, and the file without its metadata. Pure functions;
//! callers run them off the async threads.

use std::io::Cursor;

use base64::Engine;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use super::strip::strip_metadata;

/// The long edge of thumbnails: sharp in a timeline bubble on a high-density screen.
pub const THUMBNAIL_EDGE: u32 = 480;
const THUMBNAIL_QUALITY: u8 = 78;
/// The long edge of the placeholder shown while the thumbnail loads: a blurred hint of the
/// picture in a few hundred bytes.
const PLACEHOLDER_EDGE: u32 = 16;
const PLACEHOLDER_QUALITY: u8 = 50;
/// The edge of a user's or a group's picture: a square, sharp in a 128 px circle on a
/// high-density screen.
pub const AVATAR_EDGE: u32 = 256;
const AVATAR_QUALITY: u8 = 85;

/// The types Confab accepts, as base media types (no parameters).
pub const IMAGE_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/webp", "image/gif"];
pub const VOICE_TYPES: [&str; 3] = ["audio/webm", "audio/ogg", "audio/mp4"];

/// The base media type (`audio/webm` of `audio/webm;codecs=opus`), lower case.
pub fn base_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// The base media type the bytes really are, by their magic numbers, among the accepted
/// ones; `None` for anything else.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    if starts(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if starts(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        Some("image/webp")
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some("image/gif")
    } else if starts(&[0x1A, 0x45, 0xDF, 0xA3]) {
        // EBML: Matroska, of which WebM is the profile browsers record.
        Some("audio/webm")
    } else if starts(b"OggS") {
        Some("audio/ogg")
    } else if bytes.get(4..8) == Some(b"ftyp") {
        Some("audio/mp4")
    } else {
        None
    }
}

/// Why an image was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImageProblem {
    #[error("the image is {width}×{height} pixels, more than the {max} pixels allowed")]
    TooManyPixels { width: u32, height: u32, max: u64 },
    #[error("the bytes are not a readable {0} image")]
    Unreadable(&'static str),
    #[error("the image's structure could not be read to remove its metadata")]
    Opaque,
}

/// What the checks found in an image.
#[derive(Debug)]
pub struct ImageFacts {
    /// As displayed, after the EXIF orientation.
    pub width: u32,
    pub height: u32,
    /// A JPEG at most [`THUMBNAIL_EDGE`] on its long edge.
    pub thumbnail: Vec<u8>,
    /// A `data:image/jpeg;base64,…` URL of a few hundred bytes.
    pub placeholder: String,
    /// The file as it will be stored: without its metadata, keeping the orientation.
    pub stripped: Vec<u8>,
}

/// Reads the header of an image of type `base` (one of [`IMAGE_TYPES`]), refuses more
/// than `max_pixels`, then decodes it and makes its thumbnail and placeholder.
pub fn inspect_image(
    bytes: &[u8],
    base: &str,
    max_pixels: u64,
) -> Result<ImageFacts, ImageProblem> {
    let Decoded {
        image,
        orientation,
        name,
    } = decode(bytes, base, max_pixels)?;
    let thumbnail = fit(&image, THUMBNAIL_EDGE);
    let placeholder = fit(&thumbnail, PLACEHOLDER_EDGE);
    let placeholder = base64::engine::general_purpose::STANDARD.encode(
        jpeg(placeholder, PLACEHOLDER_QUALITY).map_err(|_| ImageProblem::Unreadable(name))?,
    );
    // What cannot be looked through is refused rather than kept as it came.
    let stripped =
        strip_metadata(bytes, base, orientation.to_exif()).ok_or(ImageProblem::Opaque)?;
    Ok(ImageFacts {
        stripped,
        width: image.width(),
        height: image.height(),
        thumbnail: jpeg(thumbnail, THUMBNAIL_QUALITY)
            .map_err(|_| ImageProblem::Unreadable(name))?,
        placeholder: format!("data:image/jpeg;base64,{placeholder}"),
    })
}

/// A user's or a group's picture made of an image of type `base`: the middle square (as
/// displayed, after the EXIF orientation), at most [`AVATAR_EDGE`] on a side, as a
/// metadata-free JPEG.
pub fn square_avatar(bytes: &[u8], base: &str, max_pixels: u64) -> Result<Vec<u8>, ImageProblem> {
    let Decoded { image, name, .. } = decode(bytes, base, max_pixels)?;
    let square = media_worker::middle_square(&image);
    jpeg(fit(&square, AVATAR_EDGE), AVATAR_QUALITY).map_err(|_| ImageProblem::Unreadable(name))
}

/// An image decoded, as displayed.
struct Decoded {
    image: DynamicImage,
    orientation: image::metadata::Orientation,
    /// The format's name, for errors.
    name: &'static str,
}

/// Decodes an image of type `base`, refusing more than `max_pixels` from its header, and
/// turns it as its EXIF orientation says.
fn decode(bytes: &[u8], base: &str, max_pixels: u64) -> Result<Decoded, ImageProblem> {
    let (format, name) = match base {
        "image/jpeg" => (ImageFormat::Jpeg, "JPEG"),
        "image/png" => (ImageFormat::Png, "PNG"),
        "image/webp" => (ImageFormat::WebP, "WebP"),
        "image/gif" => (ImageFormat::Gif, "GIF"),
        _ => return Err(ImageProblem::Unreadable("supported")),
    };
    let unreadable = |_| ImageProblem::Unreadable(name);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    // The decoder refuses to allocate more than the allowed canvas even if the header lied.
    let mut limits = Limits::default();
    limits.max_alloc = Some(
        max_pixels
            .saturating_mul(4)
            .saturating_add(64 * 1024 * 1024),
    );
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(unreadable)?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(ImageProblem::TooManyPixels {
            width,
            height,
            max: max_pixels,
        });
    }
    if width == 0 || height == 0 {
        return Err(ImageProblem::Unreadable(name));
    }
    let orientation = decoder.orientation().map_err(unreadable)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(unreadable)?;
    image.apply_orientation(orientation);
    Ok(Decoded {
        image,
        orientation,
        name,
    })
}

/// `image` scaled to at most `edge` on its long side, never up.
fn fit(image: &DynamicImage, edge: u32) -> DynamicImage {
    if image.width().max(image.height()) <= edge {
        image.clone()
    } else {
        image.thumbnail(edge, edge)
    }
}

/// A metadata-free JPEG of `image`, transparency flattened onto white: the browser's photo
/// worker encodes the same way.
fn jpeg(image: DynamicImage, quality: u8) -> Result<Vec<u8>, media_worker::ShrinkError> {
    media_worker::encode_jpeg(&media_worker::into_rgb_on_white(image), quality)
}

#[cfg(test)]
mod tests {
    use image::{ImageBuffer, Rgb, Rgba};

    use super::*;

    fn encoded(image: DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, format).expect("encode");
        out.into_inner()
    }

    fn gradient(width: u32, height: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(ImageBuffer::from_fn(width, height, |x, y| {
            Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        }))
    }

    #[test]
    fn magic_bytes_name_the_real_type() {
        assert_eq!(
            sniff(&encoded(gradient(4, 4), ImageFormat::Png)),
            Some("image/png")
        );
        assert_eq!(
            sniff(&encoded(gradient(4, 4), ImageFormat::Jpeg)),
            Some("image/jpeg")
        );
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"GIF89a..."), Some("image/gif"));
        assert_eq!(sniff(&[0x1A, 0x45, 0xDF, 0xA3, 0x9F]), Some("audio/webm"));
        assert_eq!(sniff(b"OggS\0\x02"), Some("audio/ogg"));
        assert_eq!(sniff(b"\0\0\0\x20ftypM4A "), Some("audio/mp4"));
        assert_eq!(sniff(b"<html><script>"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn an_avatar_is_the_middle_square_at_most_256_pixels() {
        // Red left and right thirds, blue middle: the square is all blue.
        let wide = DynamicImage::ImageRgb8(ImageBuffer::from_fn(900, 300, |x, _| {
            if (300..600).contains(&x) {
                Rgb([0, 0, 255])
            } else {
                Rgb([255, 0, 0])
            }
        }));
        let avatar =
            square_avatar(&encoded(wide, ImageFormat::Png), "image/png", 1 << 20).expect("avatar");
        let avatar = image::load_from_memory(&avatar).expect("a JPEG").to_rgb8();
        assert_eq!(avatar.dimensions(), (AVATAR_EDGE, AVATAR_EDGE));
        for (x, y) in [(0, 0), (255, 255), (0, 255), (128, 128)] {
            let [r, _, b] = avatar.get_pixel(x, y).0;
            assert!(b > 200 && r < 60, "pixel {x},{y} is {r},{b}");
        }
        let small = square_avatar(
            &encoded(gradient(40, 90), ImageFormat::Png),
            "image/png",
            1 << 20,
        )
        .expect("avatar");
        assert_eq!(
            image::load_from_memory(&small)
                .expect("a JPEG")
                .to_rgb8()
                .dimensions(),
            (40, 40),
            "a small picture is not upscaled"
        );
        assert_eq!(
            square_avatar(
                &encoded(gradient(100, 100), ImageFormat::Png),
                "image/png",
                99
            ),
            Err(ImageProblem::TooManyPixels {
                width: 100,
                height: 100,
                max: 99
            })
        );
    }

    #[test]
    fn base_types_drop_parameters_and_case() {
        assert_eq!(base_type("audio/webm;codecs=opus"), "audio/webm");
        assert_eq!(base_type(" Image/JPEG "), "image/jpeg");
    }

    #[test]
    fn an_image_gets_its_real_size_a_thumbnail_and_a_placeholder() {
        let png = encoded(gradient(1200, 600), ImageFormat::Png);
        let facts = inspect_image(&png, "image/png", 50_000_000).expect("inspect");
        assert_eq!((facts.width, facts.height), (1200, 600));
        let thumbnail = image::load_from_memory(&facts.thumbnail).expect("thumbnail decodes");
        assert_eq!(
            (thumbnail.width(), thumbnail.height()),
            (THUMBNAIL_EDGE, THUMBNAIL_EDGE / 2)
        );
        assert!(facts.placeholder.starts_with("data:image/jpeg;base64,"));
        assert!(
            facts.placeholder.len() < 1500,
            "{}",
            facts.placeholder.len()
        );
    }

    #[test]
    fn a_small_image_is_not_upscaled_and_transparency_becomes_white() {
        let clear = DynamicImage::ImageRgba8(ImageBuffer::from_pixel(40, 30, Rgba([0, 0, 0, 0])));
        let facts =
            inspect_image(&encoded(clear, ImageFormat::Png), "image/png", 10_000).expect("inspect");
        let thumbnail = image::load_from_memory(&facts.thumbnail)
            .expect("decodes")
            .to_rgb8();
        assert_eq!(thumbnail.dimensions(), (40, 30));
        assert!(thumbnail.pixels().all(|p| p.0.iter().all(|&c| c > 240)));
    }

    #[test]
    fn more_pixels_than_allowed_are_refused_from_the_header() {
        let png = encoded(gradient(2000, 1000), ImageFormat::Png);
        assert_eq!(
            inspect_image(&png, "image/png", 1_000_000).expect_err("refused"),
            ImageProblem::TooManyPixels {
                width: 2000,
                height: 1000,
                max: 1_000_000
            }
        );
    }

    #[test]
    fn garbage_behind_good_magic_is_unreadable() {
        let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
        bytes.extend_from_slice(&[0x42; 100]);
        assert!(matches!(
            inspect_image(&bytes, "image/jpeg", 1000),
            Err(ImageProblem::Unreadable("JPEG"))
        ));
    }
}
