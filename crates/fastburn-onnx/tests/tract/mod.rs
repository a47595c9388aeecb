//! An ONNX file run by tract (a pure-Rust ONNX runtime), for the tests of `fastburn export`.
//! A module apart: tract's prelude's names (`Tensor`, ...) are Burn's too.

use tract_onnx::prelude::*;

/// Each output of the graph as rows.
pub fn run(onnx: &[u8], shape: [usize; 4], pixels: Vec<f32>) -> Vec<Vec<Vec<f32>>> {
    let plan = tract_onnx::onnx()
        .model_for_read(&mut &onnx[..])
        .unwrap()
        .with_input_fact(0, f32::fact(shape).into())
        .unwrap()
        .into_typed()
        .unwrap()
        .into_decluttered()
        .unwrap()
        .into_runnable()
        .unwrap();
    let input = tract_ndarray::Array4::from_shape_vec(shape, pixels).unwrap();
    let out = plan.run(tvec!(Tensor::from(input).into())).unwrap();
    out.iter()
        .map(|t| {
            let v = t.to_plain_array_view::<f32>().unwrap();
            let cols = v.shape()[1];
            let flat: Vec<f32> = v.iter().copied().collect();
            flat.chunks(cols).map(<[f32]>::to_vec).collect()
        })
        .collect()
}
