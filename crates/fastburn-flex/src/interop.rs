//! The one place fastburn reaches Flex's primitives: a tensor's Flex buffer when it has one,
//! and a new tensor around a buffer computed here.

use std::borrow::Cow;

use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Flex};
use burn::tensor::{DType, Tensor, TensorData};

/// Flex with autodiff, as `Device::flex().autodiff()` builds it (no gradient checkpointing).
pub(crate) type FlexAutodiff = Autodiff<Flex>;

/// `t`'s primitive on Flex with autodiff (a tensor in training), when it lives there and holds
/// f32; `None` on any other backend or dtype.
pub(crate) fn tracked<const D: usize>(t: Tensor<D>) -> Option<FloatTensor<FlexAutodiff>> {
    let p = t.try_into_primitive::<FlexAutodiff>().ok()?;
    (p.primitive().dtype() == DType::F32).then_some(p)
}

/// `t`'s primitive on Flex without autodiff (inference, or a parameter's value), when it lives
/// there and holds f32; `None` on any other backend or dtype.
pub(crate) fn plain<const D: usize>(t: Tensor<D>) -> Option<FloatTensor<Flex>> {
    let p = t.try_into_primitive::<Flex>().ok()?;
    (p.dtype() == DType::F32).then_some(p)
}

/// A Flex tensor's values in row-major order (copied only when it is not contiguous already).
pub(crate) fn floats(t: &FloatTensor<Flex>) -> Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(
            t.to_contiguous()
                .as_slice::<f32>()
                .unwrap_or_default()
                .to_vec(),
        ),
    }
}

/// A Flex tensor holding `values` in the given shape.
pub(crate) fn flex_tensor(values: Vec<f32>, shape: &[usize]) -> FloatTensor<Flex> {
    FloatTensor::<Flex>::from_data(TensorData::new(values, shape.to_vec()))
}
