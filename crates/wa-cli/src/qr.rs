//! QR codes drawn in the terminal with Unicode half blocks (two modules per character cell).

use qrcode::{Color, QrCode};

use crate::style::Style;

/// Modules of light margin around the code (the standard asks for 4; 2 scans fine on screens).
const QUIET_ZONE: usize = 2;

/// The QR code for `text`, drawn as lines of half blocks.
///
/// With colours, dark modules are drawn black on a white background, so the code scans on any
/// terminal theme. Without, light modules are drawn filled, which suits the usual dark terminal.
pub fn render(text: &str, style: Style) -> Result<Vec<String>, qrcode::types::QrError> {
    let code = QrCode::new(text.as_bytes())?;
    let width = code.width();
    let colors = code.to_colors();
    let size = width + 2 * QUIET_ZONE;
    let dark = |x: usize, y: usize| -> bool {
        let (Some(x), Some(y)) = (x.checked_sub(QUIET_ZONE), y.checked_sub(QUIET_ZONE)) else {
            return false;
        };
        x < width && y < width && colors.get(y * width + x) == Some(&Color::Dark)
    };
    let colored = style.is_colored();
    let mut lines = Vec::with_capacity(size.div_ceil(2));
    for y in (0..size).step_by(2) {
        let mut line = String::with_capacity(size * 3 + 16);
        if colored {
            line.push_str("\x1b[30;107m");
        }
        for x in 0..size {
            let top = dark(x, y);
            let bottom = y + 1 < size && dark(x, y + 1);
            // Filled halves are dark modules when coloured, light modules otherwise.
            let (top, bottom) = if colored {
                (top, bottom)
            } else {
                (!top, y + 1 < size && !bottom)
            };
            line.push(match (top, bottom) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            });
        }
        if colored {
            line.push_str("\x1b[0m");
        }
        lines.push(line);
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads the modules back from the drawing and compares them with the code.
    #[test]
    fn drawing_holds_every_module() {
        let text =
            "2@abcdefghijklmnop,QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=,AAECAwQFBgcICQoLDA0ODw==";
        let code = QrCode::new(text.as_bytes()).unwrap();
        let width = code.width();
        let colors = code.to_colors();
        let lines = render(text, Style::plain()).unwrap();
        let size = width + 2 * QUIET_ZONE;
        assert_eq!(lines.len(), size.div_ceil(2));
        for (row, line) in lines.iter().enumerate() {
            let cells: Vec<char> = line.chars().collect();
            assert_eq!(cells.len(), size);
            for (x, cell) in cells.iter().enumerate() {
                let (top_light, bottom_light) = match cell {
                    '█' => (true, true),
                    '▀' => (true, false),
                    '▄' => (false, true),
                    _ => (false, false),
                };
                for (y, light) in [(2 * row, top_light), (2 * row + 1, bottom_light)] {
                    if y >= size {
                        continue;
                    }
                    let inside = (QUIET_ZONE..QUIET_ZONE + width).contains(&x)
                        && (QUIET_ZONE..QUIET_ZONE + width).contains(&y);
                    let expected_dark = inside
                        && colors[(y - QUIET_ZONE) * width + (x - QUIET_ZONE)] == Color::Dark;
                    assert_eq!(!light, expected_dark, "module ({x}, {y})");
                }
            }
        }
    }
}
