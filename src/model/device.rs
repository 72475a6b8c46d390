//! Device and dtype selection from their command-line names.

use candle_core::{DType, Device};

use super::error::ModelError;

/// `cpu` or `cuda` / `cuda:N`. A build without the `cuda` feature says so instead of failing later.
pub fn parse_device(name: &str) -> Result<Device, ModelError> {
    match name {
        "cpu" => Ok(Device::Cpu),
        cuda if cuda == "cuda" || cuda.starts_with("cuda:") => {
            let ordinal = match cuda.strip_prefix("cuda:") {
                Some(n) => n
                    .parse::<usize>()
                    .map_err(|_| ModelError::Device(format!("`{cuda}`: bad GPU ordinal")))?,
                None => 0,
            };
            if !cfg!(feature = "cuda") {
                return Err(ModelError::Device(
                    "this glmkit was built without CUDA support; rebuild it with `--features cuda` \
                     (needs the CUDA toolkit) or use `--device cpu`"
                        .into(),
                ));
            }
            Device::new_cuda(ordinal)
                .map_err(|e| ModelError::Device(format!("cuda:{ordinal}: {e}")))
        }
        other => Err(ModelError::Device(format!(
            "unknown device `{other}` (expected cpu or cuda[:N])"
        ))),
    }
}

/// `f32`, `bf16` or `f16`.
pub fn parse_dtype(name: &str) -> Result<DType, ModelError> {
    match name {
        "auto" => Err(ModelError::Input(
            "dtype `auto` depends on the device: use parse_dtype_for".into(),
        )),
        "f32" | "float32" => Ok(DType::F32),
        "bf16" | "bfloat16" => Ok(DType::BF16),
        "f16" | "float16" => Ok(DType::F16),
        other => Err(ModelError::Input(format!(
            "unknown dtype `{other}` (expected auto, f32, bf16 or f16)"
        ))),
    }
}

/// Like [`parse_dtype`], and `auto`: f32 on the CPU (the fast path there, with weights used in
/// place from the map), bf16 on a GPU (the published weights' dtype; matrix products on tensor
/// cores).
pub fn parse_dtype_for(name: &str, device: &Device) -> Result<DType, ModelError> {
    match name {
        "auto" if device.is_cpu() => Ok(DType::F32),
        "auto" => Ok(DType::BF16),
        other => parse_dtype(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuda_without_the_feature_says_so() {
        if cfg!(feature = "cuda") {
            return;
        }
        let err = parse_device("cuda").unwrap_err().to_string();
        assert!(err.contains("without CUDA support"), "{err}");
        assert!(parse_device("tpu").is_err());
        assert!(matches!(parse_device("cpu"), Ok(Device::Cpu)));
    }

    #[test]
    fn auto_dtype_is_f32_on_the_cpu() {
        assert_eq!(parse_dtype_for("auto", &Device::Cpu).unwrap(), DType::F32);
        assert_eq!(parse_dtype_for("bf16", &Device::Cpu).unwrap(), DType::BF16);
        assert!(parse_dtype("auto").is_err());
        assert!(parse_dtype_for("f8", &Device::Cpu).is_err());
    }
}
