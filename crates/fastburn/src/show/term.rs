//! Images in the terminal with Unicode half-blocks, so `fastburn show` works over SSH.

use super::gray::Gray;

/// Render with `▀`: each character cell shows two pixel rows (foreground = upper, background =
/// lower) in 24-bit grey. Pixels keep their polarity (MNIST: white digit on black).
pub fn render_halfblocks(img: &Gray) -> String {
    let grey = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    let mut out = String::new();
    for row in (0..img.height).step_by(2) {
        for col in 0..img.width {
            let top = grey(img.at(row, col));
            let bottom = if row + 1 < img.height {
                grey(img.at(row + 1, col))
            } else {
                0
            };
            out.push_str(&format!(
                "\x1b[38;2;{top};{top};{top}m\x1b[48;2;{bottom};{bottom};{bottom}m\u{2580}"
            ));
        }
        out.push_str("\x1b[0m\n");
    }
    out
}

/// Plain-text rendering for pipes and `NO_COLOR`: two characters a pixel on a ten-step ramp.
pub fn render_ascii(img: &Gray) -> String {
    const RAMP: &[u8] = b" .:-=+*#%@";
    let mut out = String::new();
    for row in 0..img.height {
        for col in 0..img.width {
            let v = img.at(row, col).clamp(0.0, 1.0);
            let c = RAMP[((v * (RAMP.len() - 1) as f32).round()) as usize] as char;
            out.push(c);
            out.push(c);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halfblocks_pack_two_rows_per_line() {
        let img = Gray {
            height: 3,
            width: 2,
            values: vec![0.0, 1.0, 1.0, 0.0, 0.5, 0.5],
        };
        let s = render_halfblocks(&img);
        assert_eq!(s.lines().count(), 2);
        assert!(s.starts_with("\x1b[38;2;0;0;0m\x1b[48;2;255;255;255m▀"));
        assert_eq!(render_ascii(&img), "  @@\n@@  \n++++\n");
    }
}
