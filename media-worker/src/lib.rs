//! Shrinks photos in the browser before they are uploaded: decoded pixels (or, when the
//! browser cannot decode the file, the file itself) in; a JPEG whose long edge is at most
//! `max_edge`, with no metadata, out. `public/media-worker.js` runs it in a Web Worker.
//!
//! - `decode`: reads JPEG, PNG and WebP within memory limits, with their EXIF orientation.
//! - `resize`: picks the output size and scales down to it (box average, then Catmull-Rom).
//! - `encode`: flattens transparency onto white and writes the JPEG, metadata-free (the
//!   server encodes its thumbnails with the same two functions).
//! - `wasm`: the `#[wasm_bindgen]` exports, thin wrappers over [`shrink_pixels`] and
//!   [`shrink_file`].
//! - `error`: [`ShrinkError`], whose message the worker shows the user.

mod decode;
mod encode;
mod error;
mod resize;
mod wasm;

use image::{DynamicImage, RgbImage};
use wasm_bindgen::prelude::wasm_bindgen;

pub use decode::MAX_PIXELS;
pub use encode::{encode_jpeg, into_rgb_on_white};
pub use error::ShrinkError;
pub use resize::fit_within;

/// A shrunk photo: a JPEG file and its size in pixels.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Shrunk {
    jpeg: Vec<u8>,
    width: u32,
    height: u32,
}

impl Shrunk {
    /// The JPEG file.
    pub fn jpeg(&self) -> &[u8] {
        &self.jpeg
    }
}

#[wasm_bindgen]
impl Shrunk {
    /// Width of the JPEG in pixels.
    #[wasm_bindgen(getter)]
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height of the JPEG in pixels.
    #[wasm_bindgen(getter)]
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The JPEG file; consumes the value, so JS need not `free()` it afterwards.
    #[wasm_bindgen(js_name = intoBytes)]
    pub fn into_bytes(self) -> Vec<u8> {
        self.jpeg
    }
}

/// Shrinks `width`×`height` RGBA pixels, already decoded and turned upright (by the browser's
/// `createImageBitmap(…, {imageOrientation: "from-image"})`), to a JPEG of long edge at most
/// `max_edge` at `quality` (1–100). Pixels already within `max_edge` (the browser may have
/// scaled them itself) are only flattened and encoded.
pub fn shrink_pixels(
    rgba: &[u8],
    width: u32,
    height: u32,
    max_edge: u32,
    quality: u8,
) -> Result<Shrunk, ShrinkError> {
    if width == 0 || height == 0 || max_edge == 0 {
        return Err(ShrinkError::Empty);
    }
    let expected = u64::from(width) * u64::from(height) * 4;
    if rgba.len() as u64 != expected {
        return Err(ShrinkError::PixelCount {
            expected,
            actual: rgba.len() as u64,
        });
    }
    let (out_width, out_height) = fit_within(width, height, max_edge);
    let small = resize::downscale(
        encode::flatten_onto_white(rgba, width, height),
        out_width,
        out_height,
    );
    finish(small, quality)
}

/// Decodes a JPEG, PNG or WebP file, turns it upright as its EXIF orientation says, and shrinks
/// it like [`shrink_pixels`].
pub fn shrink_file(bytes: &[u8], max_edge: u32, quality: u8) -> Result<Shrunk, ShrinkError> {
    if max_edge == 0 {
        return Err(ShrinkError::Empty);
    }
    let decoded = decode::decode(bytes)?;
    let (width, height) = (decoded.image.width(), decoded.image.height());
    let rgb = encode::into_rgb_on_white(decoded.image);
    // The long edge is the same either way up, so the size is chosen before turning, and
    // only the small result is turned.
    let (out_width, out_height) = fit_within(width, height, max_edge);
    let mut small = DynamicImage::ImageRgb8(resize::downscale(rgb, out_width, out_height));
    small.apply_orientation(decoded.orientation);
    finish(small.into_rgb8(), quality)
}

/// Like [`shrink_file`], for a picture of a person or a group: the middle square of the
/// upright image, at most `max_edge` on a side.
pub fn square_file(bytes: &[u8], max_edge: u32, quality: u8) -> Result<Shrunk, ShrinkError> {
    if max_edge == 0 {
        return Err(ShrinkError::Empty);
    }
    let decoded = decode::decode(bytes)?;
    let mut image = decoded.image;
    image.apply_orientation(decoded.orientation);
    let square = middle_square(&image);
    let side = square.width().min(max_edge);
    let rgb = encode::into_rgb_on_white(square);
    finish(resize::downscale(rgb, side, side), quality)
}

/// The largest square in the middle of `image` (the server cuts pictures the same way).
pub fn middle_square(image: &DynamicImage) -> DynamicImage {
    let edge = image.width().min(image.height());
    image.crop_imm(
        (image.width() - edge) / 2,
        (image.height() - edge) / 2,
        edge,
        edge,
    )
}

fn finish(image: RgbImage, quality: u8) -> Result<Shrunk, ShrinkError> {
    Ok(Shrunk {
        jpeg: encode::encode_jpeg(&image, quality)?,
        width: image.width(),
        height: image.height(),
    })
}
