//! The one error type of the crate; the worker shows its message to the user.

/// Why a photo could not be shrunk.
#[derive(Debug, thiserror::Error)]
pub enum ShrinkError {
    /// The bytes are not a JPEG, PNG or WebP image we can read, or they are damaged.
    #[error("this file is not a photo we can read ({0})")]
    Decode(#[source] image::ImageError),
    /// The image is larger than the worker's memory allows.
    #[error("this photo is too large ({width}×{height} pixels; at most {max} megapixels)")]
    TooLarge { width: u32, height: u32, max: u32 },
    /// The caller's pixel buffer does not hold width × height RGBA pixels.
    #[error("expected {expected} bytes of RGBA pixels, got {actual}")]
    PixelCount { expected: u64, actual: u64 },
    /// An image with no pixels, or a target edge of zero.
    #[error("an image must be at least one pixel wide and high")]
    Empty,
    /// The JPEG encoder refused the image (it cannot fail on a well-formed one).
    #[error("could not encode the JPEG ({0})")]
    Encode(#[source] image::ImageError),
}
