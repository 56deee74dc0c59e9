//! Thumbnails for images sent without one (feature `thumbnails`).
//!
//! WhatsApp shows a message's `jpegThumbnail` until the full file is downloaded. When the caller
//! gives none, the image is decoded, scaled down to fit [`THUMBNAIL_MAX_SIDE`] on its longer side
//! (aspect kept, never enlarged) and encoded as JPEG. The same decode fills a missing
//! `width`/`height`.

use image::codecs::jpeg::JpegEncoder;
use wa_core::chat::compose::{MediaKind, MediaOptions};

/// The longest side, in pixels, of a generated thumbnail: inside WhatsApp's usual 32–100 px
/// previews and the 72×72 box its clients draw before the download.
pub const THUMBNAIL_MAX_SIDE: u32 = 72;

/// JPEG quality of a generated thumbnail: a preview, kept small since it travels inline.
const THUMBNAIL_QUALITY: u8 = 60;

/// Completes `options` for `kind`: a JPEG thumbnail for an image without one, and the
/// dimensions of an image or sticker when missing. Data that does not decode is sent as given.
pub(crate) fn complete(kind: MediaKind, data: &[u8], mut options: MediaOptions) -> MediaOptions {
    let wants_thumbnail = kind == MediaKind::Image && options.jpeg_thumbnail.is_none();
    let wants_dimensions =
        matches!(kind, MediaKind::Image | MediaKind::Sticker) && options.dimensions.is_none();
    if !wants_thumbnail && !wants_dimensions {
        return options;
    }
    let image = match image::load_from_memory(data) {
        Ok(image) => image,
        Err(error) => {
            tracing::debug!(%error, "media not decodable, sent without a generated thumbnail");
            return options;
        }
    };
    if wants_dimensions {
        options.dimensions = Some((image.width(), image.height()));
    }
    if wants_thumbnail {
        match jpeg_thumbnail(&image) {
            Ok(jpeg) => options.jpeg_thumbnail = Some(jpeg),
            Err(error) => tracing::debug!(%error, "thumbnail encoding failed"),
        }
    }
    options
}

/// `image` scaled to fit [`THUMBNAIL_MAX_SIDE`] (never enlarged), as JPEG.
fn jpeg_thumbnail(image: &image::DynamicImage) -> Result<Vec<u8>, image::ImageError> {
    let small = if image.width() > THUMBNAIL_MAX_SIDE || image.height() > THUMBNAIL_MAX_SIDE {
        image.thumbnail(THUMBNAIL_MAX_SIDE, THUMBNAIL_MAX_SIDE)
    } else {
        image.clone()
    };
    // JPEG has no alpha channel: drop it (and any 16-bit depth) first.
    let rgb = small.to_rgb8();
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, THUMBNAIL_QUALITY).encode_image(&rgb)?;
    Ok(jpeg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageFormat, Rgba, RgbaImage};

    fn png(width: u32, height: u32) -> Vec<u8> {
        let img = RgbaImage::from_fn(width, height, |x, y| {
            Rgba([(x % 256) as u8, (y % 256) as u8, 128, 200])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png)
            .expect("encode png");
        out.into_inner()
    }

    #[test]
    fn image_without_thumbnail_gets_a_fitting_jpeg_and_dimensions() {
        let options = complete(MediaKind::Image, &png(300, 150), MediaOptions::default());
        assert_eq!(options.dimensions, Some((300, 150)));
        let thumb = options.jpeg_thumbnail.expect("thumbnail");
        assert_eq!(image::guess_format(&thumb).ok(), Some(ImageFormat::Jpeg));
        let decoded = image::load_from_memory(&thumb).expect("decodes");
        assert_eq!((decoded.width(), decoded.height()), (72, 36));
    }

    #[test]
    fn small_images_are_not_enlarged() {
        let options = complete(MediaKind::Image, &png(20, 30), MediaOptions::default());
        let decoded =
            image::load_from_memory(&options.jpeg_thumbnail.expect("thumbnail")).expect("decodes");
        assert_eq!((decoded.width(), decoded.height()), (20, 30));
    }

    #[test]
    fn caller_values_are_kept_and_other_kinds_untouched() {
        let given = MediaOptions {
            jpeg_thumbnail: Some(vec![1, 2, 3]),
            dimensions: Some((7, 8)),
            ..MediaOptions::default()
        };
        let kept = complete(MediaKind::Image, &png(100, 100), given.clone());
        assert_eq!(kept.jpeg_thumbnail, Some(vec![1, 2, 3]));
        assert_eq!(kept.dimensions, Some((7, 8)));
        let video = complete(MediaKind::Video, &png(100, 100), MediaOptions::default());
        assert_eq!(video.jpeg_thumbnail, None);
        assert_eq!(video.dimensions, None);
        let sticker = complete(MediaKind::Sticker, &png(100, 50), MediaOptions::default());
        assert_eq!(sticker.jpeg_thumbnail, None);
        assert_eq!(sticker.dimensions, Some((100, 50)));
    }

    #[test]
    fn undecodable_data_is_sent_as_given() {
        let options = complete(MediaKind::Image, b"not an image", MediaOptions::default());
        assert_eq!(options.jpeg_thumbnail, None);
        assert_eq!(options.dimensions, None);
    }
}
