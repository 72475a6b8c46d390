//! Weight matrices read in place from the memory-mapped checkpoint.
//!
//! candle's CPU tensors own their buffers, so loading a tensor copies it out of the map. For an
//! f32 checkpoint scored in f32 on the CPU that copy is pure waste: the matrix products below run
//! gemm directly on the mapped bytes, so the weights cost page cache only, shared between
//! processes and dropped by the kernel under memory pressure. The gemm call is the one candle
//! makes for `x.matmul(&w.t())`, so results are identical to the copied path.

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use std::sync::Arc;

/// A `[rows, cols]` f32 matrix inside a mapped safetensors file.
pub struct MappedMatrix {
    files: Arc<MmapedSafetensors>,
    name: String,
    rows: usize,
    cols: usize,
}

impl MappedMatrix {
    /// Wraps tensor `name` if it is stored as f32 at a 4-byte-aligned offset (safetensors pads
    /// its header to 8 bytes, so f32 files are aligned); `None` means it must be copied.
    pub fn new(
        files: Arc<MmapedSafetensors>,
        name: &str,
        rows: usize,
        cols: usize,
    ) -> Option<Self> {
        let view = files.get(name).ok()?;
        let aligned = (view.data().as_ptr() as usize).is_multiple_of(std::mem::align_of::<f32>());
        let ok = view.dtype() == safetensors::Dtype::F32
            && view.shape() == [rows, cols]
            && aligned
            && cfg!(target_endian = "little");
        drop(view);
        ok.then(|| MappedMatrix {
            files,
            name: name.to_string(),
            rows,
            cols,
        })
    }

    fn data(&self) -> candle_core::Result<&[f32]> {
        let view = self.files.get(&self.name)?;
        let bytes = view.data();
        if bytes.len() != self.rows * self.cols * 4 || !(bytes.as_ptr() as usize).is_multiple_of(4)
        {
            candle_core::bail!("mapped tensor {} changed under us", self.name)
        }
        // SAFETY: length and alignment checked above; the bytes live in the map held by `files`,
        // which outlives the returned borrow of `self`; every bit pattern is a valid f32.
        Ok(unsafe {
            std::slice::from_raw_parts(bytes.as_ptr() as *const f32, self.rows * self.cols)
        })
    }

    /// `x @ self^T` for `x` `[n, cols]` (f32, CPU): `[n, rows]`.
    pub fn matmul_t(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.apply_op1_no_bwd(self)
    }

    /// `x @ self^T` for `x` `[m, cols]` row-major into `dst` (resized to `[m, rows]`), so that a
    /// caller can reuse one buffer instead of faulting in fresh pages for every product.
    pub fn matmul_t_into(
        &self,
        x: &[f32],
        m: usize,
        dst: &mut Vec<f32>,
    ) -> candle_core::Result<()> {
        let (n, k) = (self.rows, self.cols);
        if x.len() != m * k {
            candle_core::bail!(
                "{}: input has {} values, expected {m} x {k}",
                self.name,
                x.len()
            )
        }
        let w = self.data()?;
        dst.resize(m * n, 0.0);
        let threads = candle_core::utils::get_num_threads();
        let parallelism = if threads > 1 {
            gemm::Parallelism::Rayon(threads)
        } else {
            gemm::Parallelism::None
        };
        // SAFETY: dst is [m, n] row-major, x is [m, k] row-major and w is [n, k] row-major, read
        // as its transpose [k, n] (row stride 1, column stride k), all within their slices. With
        // alpha = 0 and read_dst = false gemm only writes dst.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst.as_mut_ptr(),
                1,
                n as isize,
                false,
                x.as_ptr(),
                1,
                k as isize,
                w.as_ptr(),
                k as isize,
                1,
                0.0,
                1.0,
                false,
                false,
                false,
                parallelism,
            )
        }
        Ok(())
    }

    /// Rows `ids` of the matrix (an embedding lookup): `[ids.len(), cols]`.
    pub fn rows(&self, ids: &[u32], device: &candle_core::Device) -> candle_core::Result<Tensor> {
        let data = self.data()?;
        let mut out = Vec::with_capacity(ids.len() * self.cols);
        for &id in ids {
            let id = id as usize;
            if id >= self.rows {
                candle_core::bail!("id {id} outside {} rows of {}", self.rows, self.name)
            }
            out.extend_from_slice(&data[id * self.cols..(id + 1) * self.cols]);
        }
        Tensor::from_vec(out, (ids.len(), self.cols), device)
    }
}

impl CustomOp1 for MappedMatrix {
    fn name(&self) -> &'static str {
        "mapped-matmul-t"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(x) = storage else {
            candle_core::bail!("mapped weights multiply f32 inputs only")
        };
        let (m, k) = layout.shape().dims2()?;
        if k != self.cols {
            candle_core::bail!(
                "{}: input has {k} columns, the matrix {}",
                self.name,
                self.cols
            )
        }
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("{}: input must be contiguous", self.name)
        };
        let mut dst = Vec::new();
        self.matmul_t_into(&x[start..end], m, &mut dst)?;
        let n = self.rows;
        Ok((CpuStorage::F32(dst), Shape::from((m, n))))
    }
}
