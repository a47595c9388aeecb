//! fastai's `Normalize` transform: per-channel mean and standard deviation, applied to the data
//! when it is made into tensors (`encode`) and undone to show it (`decode`). The same transform is
//! stored in the model file, so `predict` and `serve` feed the model what it was trained on.

use std::fmt;

/// Per-channel statistics in 0..=1 pixel units (one entry for grey images, three for RGB).
///
/// ```
/// use fastburn::data::Normalize;
/// let n = Normalize::new(vec![0.5], vec![0.25]);
/// assert_eq!(n.encode(0.75, 0), 1.0);
/// assert_eq!(n.decode(1.0, 0), 0.75);
/// assert_eq!(n.to_string().parse::<Normalize>().unwrap(), n);
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Normalize {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Normalize {
    pub fn new(mean: Vec<f32>, std: Vec<f32>) -> Self {
        Self { mean, std }
    }

    /// The statistics of pixel values `0..=255` laid out item after item, each item `channels`
    /// planes of `plane` values.
    pub fn from_pixels(pixels: &[u8], channels: usize, plane: usize) -> Self {
        let (channels, plane) = (channels.max(1), plane.max(1));
        let (mut n, mut sum, mut sq) = (
            vec![0f64; channels],
            vec![0f64; channels],
            vec![0f64; channels],
        );
        for (i, &p) in pixels.iter().enumerate() {
            let c = (i / plane) % channels;
            let x = p as f64 / 255.0;
            n[c] += 1.0;
            sum[c] += x;
            sq[c] += x * x;
        }
        let (mut mean, mut std) = (Vec::new(), Vec::new());
        for c in 0..channels {
            let m = sum[c] / n[c].max(1.0);
            let var = (sq[c] / n[c].max(1.0) - m * m).max(0.0);
            mean.push(m as f32);
            std.push(var.sqrt().max(1e-6) as f32);
        }
        Self { mean, std }
    }

    /// Whether these statistics can normalise `channels`-channel images: one mean and one
    /// positive standard deviation per channel.
    pub fn fits(&self, channels: usize) -> bool {
        self.mean.len() == channels
            && self.std.len() == channels
            && self.mean.iter().all(|m| m.is_finite())
            && self.std.iter().all(|s| s.is_finite() && *s > 0.0)
    }

    fn at(v: &[f32], c: usize) -> f32 {
        v.get(c).or(v.last()).copied().unwrap_or(0.0)
    }

    /// A 0..=1 pixel of channel `c`, normalised.
    pub fn encode(&self, x: f32, c: usize) -> f32 {
        (x - Self::at(&self.mean, c)) / Self::at(&self.std, c)
    }

    /// Back to a 0..=1 pixel.
    pub fn decode(&self, x: f32, c: usize) -> f32 {
        x * Self::at(&self.std, c) + Self::at(&self.mean, c)
    }

    /// Pixels `0..=255`, `channels` planes of `plane` values each item after item, as model
    /// inputs: divided by 255, then normalised when `norm` is given.
    pub fn to_inputs(
        norm: Option<&Normalize>,
        pixels: &[u8],
        channels: usize,
        plane: usize,
    ) -> Vec<f32> {
        let plane = plane.max(1);
        pixels
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                let x = p as f32 / 255.0;
                match norm {
                    Some(n) => n.encode(x, (i / plane) % channels.max(1)),
                    None => x,
                }
            })
            .collect()
    }
}

/// `mean1 mean2 ...,std1 std2 ...` (for one channel, `mean,std`: what older model files hold).
impl fmt::Display for Normalize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |v: &[f32]| v.iter().map(f32::to_string).collect::<Vec<_>>().join(" ");
        write!(f, "{},{}", join(&self.mean), join(&self.std))
    }
}

impl std::str::FromStr for Normalize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (m, sd) = s.split_once(',').ok_or("expected mean,std")?;
        let nums = |t: &str| -> Result<Vec<f32>, String> {
            t.split_whitespace()
                .map(|x| x.parse::<f32>().map_err(|e| e.to_string()))
                .collect()
        };
        let (mean, std) = (nums(m)?, nums(sd)?);
        if mean.is_empty() || mean.len() != std.len() || std.iter().any(|s| s.is_nan() || *s <= 0.0)
        {
            return Err("expected as many positive standard deviations as means".into());
        }
        Ok(Self { mean, std })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_per_channel_and_inputs() {
        // Two items of two channels of two pixels: channel 0 is 0 and 255, channel 1 all 51.
        let px = [0, 255, 51, 51, 0, 255, 51, 51];
        let n = Normalize::from_pixels(&px, 2, 2);
        assert!((n.mean[0] - 0.5).abs() < 1e-6 && (n.std[0] - 0.5).abs() < 1e-6);
        assert!((n.mean[1] - 0.2).abs() < 1e-6);
        let x = Normalize::to_inputs(Some(&n), &px[..4], 2, 2);
        assert!((x[0] + 1.0).abs() < 1e-5 && (x[1] - 1.0).abs() < 1e-5);
        assert!(x[2].abs() < 1e-3);
        assert_eq!(Normalize::to_inputs(None, &[255], 1, 1), vec![1.0]);
        assert!("0.1,0".parse::<Normalize>().is_err());
        assert!("x,1".parse::<Normalize>().is_err());
        assert_eq!("0.13,0.3".parse::<Normalize>().unwrap().mean, vec![0.13]);
    }
}
