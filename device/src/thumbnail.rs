//! The thumbnail of an attached photo, made as the app makes it (a JPEG
//! at quality 0.8, at most [`SIDE`] pixels on its longest side, on white
//! where the photo is transparent), so that every device's note shows the
//! photo without fetching it whole.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageReader, Rgba, RgbaImage};

/// The longest side of a thumbnail, in pixels (the app's too).
pub const SIDE: u32 = 320;
/// The largest image decoded for a thumbnail; larger files get none.
pub const MAX_SOURCE_BYTES: u64 = 64 << 20;

/// A JPEG thumbnail of `bytes` and its size, or `None` when they are not
/// an image this device decodes (JPEG, PNG, GIF, WebP).
pub fn of(bytes: &[u8]) -> Option<(Vec<u8>, u32, u32)> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .ok()?;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(512 << 20);
    let mut reader = reader;
    reader.limits(limits);
    let image = reader.decode().ok()?;
    let (w, h) = (image.width(), image.height());
    if w == 0 || h == 0 {
        return None;
    }
    let scale = (f64::from(SIDE) / f64::from(w.max(h))).min(1.0);
    let tw = ((f64::from(w) * scale).round() as u32).max(1);
    let th = ((f64::from(h) * scale).round() as u32).max(1);
    let small = image.resize_exact(tw, th, FilterType::Triangle).to_rgba8();
    // JPEG has no transparency: a white ground, as on paper.
    let mut ground = RgbaImage::from_pixel(tw, th, Rgba([255, 255, 255, 255]));
    image::imageops::overlay(&mut ground, &small, 0, 0);
    let rgb = DynamicImage::ImageRgba8(ground).to_rgb8();
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, 80)
        .encode_image(&rgb)
        .ok()?;
    Some((jpeg, tw, th))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_photo_gets_a_jpeg_of_at_most_320_pixels_and_other_files_none() {
        let photo = RgbaImage::from_fn(1280, 960, |x, y| {
            Rgba([(x % 256) as u8, (y % 256) as u8, 90, 255])
        });
        let mut png = Vec::new();
        DynamicImage::ImageRgba8(photo)
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let (jpeg, w, h) = of(&png).unwrap();
        assert_eq!((w, h), (320, 240));
        let back = image::load_from_memory(&jpeg).unwrap();
        assert_eq!((back.width(), back.height()), (320, 240));
        assert_eq!(&jpeg[..2], &[0xff, 0xd8], "a JPEG");

        // A small image keeps its size.
        let icon = RgbaImage::from_pixel(16, 8, Rgba([0, 0, 0, 0]));
        let mut png = Vec::new();
        DynamicImage::ImageRgba8(icon)
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let (jpeg, w, h) = of(&png).unwrap();
        assert_eq!((w, h), (16, 8));
        // Transparent became white.
        let back = image::load_from_memory(&jpeg).unwrap().to_rgb8();
        assert!(back.get_pixel(3, 3).0.iter().all(|&c| c > 240));

        assert!(of(b"%PDF-1.7 not an image").is_none());
        assert!(of(&png[..png.len() / 2]).is_none(), "a damaged image");
    }
}
