//! Printing tensors the way PyTorch does, so output can be read beside the book's.
//!
//! Follows `torch/_tensor_str.py`: one width for all shown elements, 4 decimals for floats (or
//! scientific notation when the range is wide), whole floats printed as `1.`, tensors of more than
//! 1,000 elements summarised to 3 items at each edge, lines wrapped at 80 columns, and the dtype
//! named when it is not the default (`f32`, `i64`).

use burn::prelude::*;
use burn::tensor::DType;
use burn::tensor::kind::Basic;

const LINE_WIDTH: usize = 80;
const THRESHOLD: usize = 1000;
const EDGE_ITEMS: usize = 3;

/// `tensor([[  0,  29], [ 48, 166]], dtype=u8)`-style text for any tensor.
///
/// ```
/// use burn::prelude::*;
/// let t = Tensor::<1>::from_floats([0.1114f32, 0.2021], &Device::flex());
/// assert_eq!(fastburn::show::repr(&t), "tensor([0.1114, 0.2021])");
/// ```
pub fn repr<const D: usize, K: Basic>(tensor: &Tensor<D, K>) -> String {
    repr_data(&tensor.to_data())
}

/// [`repr`] for data already on the host.
pub fn repr_data(data: &TensorData) -> String {
    let shape = data.shape().to_vec();
    let values = Values::from_data(data);
    let summarize = shape.iter().product::<usize>() > THRESHOLD;
    let strides = strides(&shape);

    let mut shown = Vec::new();
    collect_shown(&shape, &strides, 0, 0, summarize, &mut shown);
    let fmt = Formatter::new(&values, &shown);

    const PREFIX: &str = "tensor(";
    let body = if shape.is_empty() {
        fmt.format(&values, 0).trim_start().to_string()
    } else {
        format_dim(
            &shape,
            &strides,
            0,
            0,
            PREFIX.len(),
            summarize,
            &fmt,
            &values,
        )
    };
    let mut out = format!("{PREFIX}{body}");
    if let Some(dtype) = dtype_suffix(data.dtype()) {
        let last_line = out.rsplit('\n').next().unwrap_or("").len();
        let suffix = format!("dtype={dtype}");
        if last_line + 2 + suffix.len() + 1 > LINE_WIDTH {
            out.push_str(",\n");
            out.push_str(&" ".repeat(PREFIX.len()));
        } else {
            out.push_str(", ");
        }
        out.push_str(&suffix);
    }
    out.push(')');
    out
}

fn dtype_suffix(dtype: DType) -> Option<String> {
    match dtype {
        // Burn's default ints are i32 (Flex) or i64: both print bare, as PyTorch's int64 does.
        DType::F32 | DType::I32 | DType::I64 | DType::Bool(_) => None,
        other => Some(format!("{other:?}").to_lowercase()),
    }
}

enum Values {
    Float(Vec<f64>),
    Int(Vec<i64>),
    Bool(Vec<bool>),
}

impl Values {
    fn from_data(data: &TensorData) -> Self {
        match data.dtype() {
            DType::Bool(_) => Values::Bool(data.iter::<bool>().collect()),
            d if d.is_float() => Values::Float(data.iter::<f64>().collect()),
            _ => Values::Int(data.iter::<i64>().collect()),
        }
    }
}

fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// The rows of dimension `dim` that are printed (all, or the edges when summarising).
fn shown_rows(len: usize, summarize: bool) -> (Vec<usize>, bool) {
    if summarize && len > 2 * EDGE_ITEMS {
        let rows = (0..EDGE_ITEMS).chain(len - EDGE_ITEMS..len).collect();
        (rows, true)
    } else {
        ((0..len).collect(), false)
    }
}

fn collect_shown(
    shape: &[usize],
    strides: &[usize],
    dim: usize,
    offset: usize,
    summarize: bool,
    out: &mut Vec<usize>,
) {
    if dim == shape.len() {
        out.push(offset);
        return;
    }
    for i in shown_rows(shape[dim], summarize).0 {
        collect_shown(
            shape,
            strides,
            dim + 1,
            offset + i * strides[dim],
            summarize,
            out,
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn format_dim(
    shape: &[usize],
    strides: &[usize],
    dim: usize,
    offset: usize,
    indent: usize,
    summarize: bool,
    fmt: &Formatter,
    values: &Values,
) -> String {
    let (rows, elided) = shown_rows(shape[dim], summarize);
    let mut items: Vec<String> = Vec::with_capacity(rows.len() + 1);
    for (k, &i) in rows.iter().enumerate() {
        if elided && k == EDGE_ITEMS {
            items.push(if dim + 1 == shape.len() {
                " ...".into()
            } else {
                "...".into()
            });
        }
        let at = offset + i * strides[dim];
        items.push(if dim + 1 == shape.len() {
            fmt.format(values, at)
        } else {
            format_dim(
                shape,
                strides,
                dim + 1,
                at,
                indent + 1,
                summarize,
                fmt,
                values,
            )
        });
    }
    if dim + 1 == shape.len() {
        let per_line = ((LINE_WIDTH - indent.min(LINE_WIDTH)) / (fmt.width + 2)).max(1);
        let lines: Vec<String> = items.chunks(per_line).map(|c| c.join(", ")).collect();
        format!(
            "[{}]",
            lines.join(&format!(",\n{}", " ".repeat(indent + 1)))
        )
    } else {
        let newlines = "\n".repeat(shape.len() - dim - 1);
        format!(
            "[{}]",
            items.join(&format!(",{newlines}{}", " ".repeat(indent + 1)))
        )
    }
}

/// How every element is written: PyTorch picks one style and width for the whole tensor.
struct Formatter {
    width: usize,
    style: Style,
}

#[derive(Clone, Copy)]
enum Style {
    Int,
    Bool,
    WholeFloat,
    Fixed,
    Sci,
}

impl Formatter {
    fn new(values: &Values, shown: &[usize]) -> Self {
        let style = match values {
            Values::Int(_) => Style::Int,
            Values::Bool(_) => Style::Bool,
            Values::Float(v) => {
                let finite: Vec<f64> = shown
                    .iter()
                    .map(|&i| v[i])
                    .filter(|x| x.is_finite())
                    .collect();
                let nonzero: Vec<f64> = finite
                    .iter()
                    .map(|x| x.abs())
                    .filter(|&x| x > 0.0)
                    .collect();
                let max = nonzero.iter().cloned().fold(0.0, f64::max);
                let min = nonzero.iter().cloned().fold(f64::INFINITY, f64::min);
                if finite.iter().all(|x| x.fract() == 0.0) {
                    if max > 1e8 {
                        Style::Sci
                    } else {
                        Style::WholeFloat
                    }
                } else if !nonzero.is_empty() && (max / min > 1000.0 || max > 1e8 || min < 1e-4) {
                    Style::Sci
                } else {
                    Style::Fixed
                }
            }
        };
        let mut f = Formatter { width: 0, style };
        f.width = shown
            .iter()
            .map(|&i| f.raw(values, i).len())
            .max()
            .unwrap_or(0);
        f
    }

    fn raw(&self, values: &Values, i: usize) -> String {
        match (values, self.style) {
            (Values::Int(v), _) => v[i].to_string(),
            (Values::Bool(v), _) => if v[i] { "True" } else { "False" }.to_string(),
            (Values::Float(v), _) if !v[i].is_finite() => {
                if v[i].is_nan() {
                    "nan".into()
                } else if v[i] > 0.0 {
                    "inf".into()
                } else {
                    "-inf".into()
                }
            }
            (Values::Float(v), Style::WholeFloat) => format!("{:.0}.", v[i]),
            (Values::Float(v), Style::Sci) => sci(v[i]),
            (Values::Float(v), _) => format!("{:.4}", v[i]),
        }
    }

    fn format(&self, values: &Values, i: usize) -> String {
        format!("{:>w$}", self.raw(values, i), w = self.width)
    }
}

/// `1.2345e+03`, as Python writes `{:.4e}` (Rust writes `1.2345e3`).
fn sci(x: f64) -> String {
    let s = format!("{x:.4e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    format!(
        "{mantissa}e{}{:02}",
        if exp < 0 { '-' } else { '+' },
        exp.abs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u8_data(v: Vec<u8>, shape: Vec<usize>) -> TensorData {
        TensorData::new(v, shape)
    }

    #[test]
    fn prints_u8_matrix_like_pytorch() {
        let d = u8_data(vec![0, 0, 29, 0, 48, 166, 93, 244, 253], vec![3, 3]);
        assert_eq!(
            repr_data(&d),
            "tensor([[  0,   0,  29],\n        [  0,  48, 166],\n        [ 93, 244, 253]], dtype=u8)"
        );
    }

    #[test]
    fn floats_scalars_and_whole_numbers() {
        assert_eq!(
            repr_data(&TensorData::new(vec![0.5f32], Vec::<usize>::new())),
            "tensor(0.5000)"
        );
        assert_eq!(
            repr_data(&TensorData::new(vec![1.0f32, 2.0, -3.0], vec![3])),
            "tensor([ 1.,  2., -3.])"
        );
        assert_eq!(
            repr_data(&TensorData::new(vec![1e-5f32, 1.0], vec![2])),
            "tensor([1.0000e-05, 1.0000e+00])"
        );
        assert_eq!(
            repr_data(&TensorData::new(vec![3i64, 10], vec![2])),
            "tensor([ 3, 10])"
        );
    }

    #[test]
    fn big_tensors_are_summarised_with_edges() {
        let d = TensorData::new((0..2000i64).collect::<Vec<_>>(), vec![2000]);
        assert_eq!(
            repr_data(&d),
            "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])"
        );
        let d = TensorData::new((0..40 * 40i64).collect::<Vec<_>>(), vec![40, 40]);
        let s = repr_data(&d);
        assert!(
            s.starts_with("tensor([[   0,    1,    2,  ...,   37,   38,   39],\n        [  40,"),
            "{s}"
        );
        assert!(s.contains("\n        ...,\n"), "{s}");
    }

    #[test]
    fn long_rows_wrap_at_80_columns() {
        let d = TensorData::new(vec![255u8; 28], vec![28]);
        let s = repr_data(&d);
        assert!(s.lines().all(|l| l.len() <= LINE_WIDTH), "{s}");
        assert_eq!(s.lines().count(), 3);
    }
}
