//! From pixels to the uploaded file: alpha flattened onto white, then a baseline JPEG.

use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ExtendedColorType, RgbImage};

use crate::ShrinkError;

/// Composites `image` onto a white background and drops the alpha channel: JPEG has no
/// transparency, and white is what a chat bubble would show behind a transparent PNG.
/// `rgba` holds `width`×`height` pixels (checked by the caller).
pub fn flatten_onto_white(rgba: &[u8], width: u32, height: u32) -> RgbImage {
    let mut rgb = Vec::with_capacity(rgba.len() / 4 * 3);
    for pixel in rgba.chunks_exact(4) {
        let alpha = u32::from(pixel[3]);
        if alpha == 255 {
            rgb.extend_from_slice(&pixel[..3]);
        } else {
            // colour·α + 255·(1 − α), in integers rounded to nearest.
            let blend = |c: u8| ((u32::from(c) * alpha + 255 * (255 - alpha) + 127) / 255) as u8;
            rgb.extend_from_slice(&[blend(pixel[0]), blend(pixel[1]), blend(pixel[2])]);
        }
    }
    RgbImage::from_raw(width, height, rgb).expect("the buffer holds width × height pixels")
}

/// `image` as RGB, any transparency flattened onto white.
pub fn into_rgb_on_white(image: DynamicImage) -> RgbImage {
    let (width, height) = (image.width(), image.height());
    if image.color().has_alpha() {
        flatten_onto_white(image.into_rgba8().as_raw(), width, height)
    } else {
        image.into_rgb8()
    }
}

/// Encodes `image` as a JPEG at `quality` (1–100, clamped). The image crate's encoder writes
/// a JFIF header and the picture, nothing else: no EXIF (so no GPS position or camera serial
/// leaves the device), no ICC profile, no comment.
pub fn encode_jpeg(image: &RgbImage, quality: u8) -> Result<Vec<u8>, ShrinkError> {
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, quality.clamp(1, 100))
        .encode(
            image.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::Rgb8,
        )
        .map_err(ShrinkError::Encode)?;
    Ok(jpeg)
}
