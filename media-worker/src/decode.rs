//! Reading a JPEG, PNG or WebP file the browser could not decode, within memory limits, and
//! learning which way up it is meant to be shown.

use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use crate::ShrinkError;

/// The largest picture we decode, in pixels. The worker's WASM memory is 32-bit (4 GiB at
/// most, and a browser tab may get far less); 50 megapixels (a 200 MP phone sensor's binned
/// output, or a large panorama) take 200 MB as RGBA, plus the resize buffers.
pub const MAX_PIXELS: u64 = 50_000_000;

/// The decoders' own allocation ceiling, a second line behind [`MAX_PIXELS`] for what the
/// header does not tell (a PNG's 16-bit depth, a decoder's scratch buffers).
const MAX_ALLOC: u64 = 512 * 1024 * 1024;

/// A decoded picture and how the camera said to turn it for display.
pub struct Decoded {
    pub image: DynamicImage,
    pub orientation: Orientation,
}

/// Decodes `bytes` (JPEG, PNG or WebP, recognised by content) and reads the EXIF orientation.
/// The orientation is returned rather than applied, so the caller can turn the small result
/// instead of the full-size picture.
pub fn decode(bytes: &[u8]) -> Result<Decoded, ShrinkError> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .expect("reading from memory cannot fail");
    match reader.format() {
        Some(ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP) => {}
        // GIF is compiled in for the server; a photo upload is never one.
        _ => return Err(ShrinkError::Decode(unsupported())),
    }
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(ShrinkError::Decode)?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(ShrinkError::Empty);
    }
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(ShrinkError::TooLarge {
            width,
            height,
            max: (MAX_PIXELS / 1_000_000) as u32,
        });
    }
    // A damaged EXIF block costs the photo its rotation, not the upload.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let image = DynamicImage::from_decoder(decoder).map_err(ShrinkError::Decode)?;
    Ok(Decoded { image, orientation })
}

fn unsupported() -> image::ImageError {
    image::ImageError::Unsupported(image::error::UnsupportedError::from_format_and_kind(
        image::error::ImageFormatHint::Unknown,
        image::error::UnsupportedErrorKind::Format(image::error::ImageFormatHint::Unknown),
    ))
}
