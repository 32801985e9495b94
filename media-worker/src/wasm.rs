//! What `public/media-worker.js` calls. Errors become JS `Error`s carrying
//! [`ShrinkError`]'s message, which the worker passes on to the page as is.

use wasm_bindgen::prelude::{JsError, wasm_bindgen};

use crate::{Shrunk, shrink_file, shrink_pixels, square_file};

/// Shrinks RGBA pixels the browser has decoded and turned upright; see
/// [`crate::shrink_pixels`].
#[wasm_bindgen]
pub fn shrink_rgba(
    rgba: &[u8],
    width: u32,
    height: u32,
    max_edge: u32,
    quality: u8,
) -> Result<Shrunk, JsError> {
    Ok(shrink_pixels(rgba, width, height, max_edge, quality)?)
}

/// Decodes, turns upright and shrinks a JPEG, PNG or WebP file; see [`crate::shrink_file`].
#[wasm_bindgen]
pub fn shrink_encoded(bytes: &[u8], max_edge: u32, quality: u8) -> Result<Shrunk, JsError> {
    Ok(shrink_file(bytes, max_edge, quality)?)
}

/// Decodes, turns upright and cuts the middle square of a JPEG, PNG or WebP file, for a
/// picture of a person or a group; see [`crate::square_file`].
#[wasm_bindgen]
pub fn square_encoded(bytes: &[u8], max_edge: u32, quality: u8) -> Result<Shrunk, JsError> {
    Ok(square_file(bytes, max_edge, quality)?)
}
