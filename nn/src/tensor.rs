//! A minimal dense tensor: a shape and a contiguous row-major `f32` buffer, batch first.

use crate::{NnError, Result};

/// A dense row-major `f32` tensor. The first dimension is the batch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Tensor {
    /// A zero-filled tensor of `shape`.
    pub fn zeros(shape: &[usize]) -> Self {
        Tensor {
            shape: shape.to_vec(),
            data: vec![0.0; shape.iter().product()],
        }
    }

    /// A tensor from its data; errors when `data.len()` is not the product of `shape`.
    pub fn from_vec(shape: &[usize], data: Vec<f32>) -> Result<Self> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(NnError::Shape(format!(
                "shape {shape:?} holds {n} values but {} were given",
                data.len()
            )));
        }
        Ok(Tensor {
            shape: shape.to_vec(),
            data,
        })
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// Size of the first (batch) dimension; 0 for a scalar shape.
    pub fn batch(&self) -> usize {
        self.shape.first().copied().unwrap_or(0)
    }

    /// Elements per example (product of all but the first dimension).
    pub fn per_example(&self) -> usize {
        self.shape.iter().skip(1).product()
    }

    /// Makes this tensor `shape`-shaped, reusing its buffer: no allocation once the buffer has
    /// held that many elements. Contents are unspecified afterwards (kept where they fit).
    pub fn resize(&mut self, shape: &[usize]) {
        if self.shape != shape {
            self.shape.clear();
            self.shape.extend_from_slice(shape);
        }
        let n = shape.iter().product();
        self.data.resize(n, 0.0);
    }

    /// Makes this tensor a copy of `other`, reusing its buffers.
    pub fn copy_from(&mut self, other: &Tensor) {
        self.resize(&other.shape);
        self.data.copy_from_slice(&other.data);
    }

    /// Sets every element to `v`.
    pub fn fill(&mut self, v: f32) {
        self.data.iter_mut().for_each(|x| *x = v);
    }

    /// The slice of example `i` (row `i` of the batch).
    pub fn example(&self, i: usize) -> &[f32] {
        let k = self.per_example();
        &self.data[i * k..(i + 1) * k]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_vec_checks_len_and_resize_reuses_buffer() {
        assert!(Tensor::from_vec(&[2, 3], vec![0.0; 5]).is_err());
        let mut t = Tensor::from_vec(&[2, 3], (0..6).map(|i| i as f32).collect()).unwrap();
        assert_eq!(t.batch(), 2);
        assert_eq!(t.per_example(), 3);
        assert_eq!(t.example(1), &[3.0, 4.0, 5.0]);
        let cap = t.data.capacity();
        let ptr = t.data.as_ptr();
        t.resize(&[3, 2]);
        assert_eq!(t.shape, vec![3, 2]);
        assert_eq!(t.data.capacity(), cap);
        assert_eq!(t.data.as_ptr(), ptr);
        t.resize(&[1, 2]);
        assert_eq!(t.numel(), 2);
        t.fill(7.0);
        assert_eq!(t.data, vec![7.0, 7.0]);
    }
}

/// `Σ x²` in `f64`, over eight independent accumulators so that it vectorises (the statistics
/// the doctor reads every step must not cost a serial pass over every gradient).
pub fn sum_sq(x: &[f32]) -> f64 {
    let mut acc = [0.0f64; 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..8 {
            let v = c[k] as f64;
            acc[k] += v * v;
        }
    }
    let tail: f64 = rest.iter().map(|&v| (v as f64) * (v as f64)).sum();
    acc.iter().sum::<f64>() + tail
}

#[cfg(test)]
mod sum_sq_tests {
    #[test]
    fn sum_sq_equals_the_serial_sum() {
        for n in [0usize, 1, 7, 8, 9, 100, 1003] {
            let x: Vec<f32> = (0..n)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.013)
                .collect();
            let serial: f64 = x.iter().map(|&v| (v as f64) * (v as f64)).sum();
            let fast = super::sum_sq(&x);
            assert!(
                (fast - serial).abs() <= 1e-12 * serial.max(1.0),
                "n={n}: {fast} vs {serial}"
            );
        }
    }
}
