/// The explicit state one transform keeps for one parameter tensor.
///
/// `bufs` are per-element buffers (moments, accumulators), each as long as the parameter unless
/// the transform says otherwise; `scalars` hold counters and running sums (the step count first,
/// by convention). Everything here is plain data so that it saves and restores bit-exactly.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct State<F> {
    pub bufs: Vec<Vec<F>>,
    pub scalars: Vec<f64>,
}

impl<F: crate::Float> State<F> {
    /// `n_bufs` zero buffers of length `len` and `n_scalars` zero scalars.
    pub fn zeros(n_bufs: usize, len: usize, n_scalars: usize) -> Self {
        State {
            bufs: (0..n_bufs).map(|_| vec![F::zero(); len]).collect(),
            scalars: vec![0.0; n_scalars],
        }
    }
}
