//! Host operations with several outputs (a pyramid's levels).
//!
//! Burn's graph gives every node one output. Returning one concatenated tensor and slicing it
//! would cost, in the backward pass, a zero-filled copy of the whole concatenation per slice.
//! Instead each output is its own node whose backward step only files its gradient with the
//! operation; the operation's node, their common parent (with a one-element placeholder
//! value), runs after all of them (Burn runs deeper nodes first) and computes the input's
//! gradient once from every gradient filed.

use std::sync::{Arc, Mutex};

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;

use super::HostSplitOp;

/// Each output's gradient, filed by its node for the operation's node.
pub(super) type Filed<B> = Arc<Mutex<Vec<Option<FloatTensor<B>>>>>;

/// The operation's own node: its backward step computes the input's gradient.
#[derive(Debug)]
pub(super) struct SplitNode<O>(pub Arc<O>);

#[derive(Debug, Clone)]
pub(super) struct SplitState<S, B: Backend> {
    pub saved: S,
    pub filed: Filed<B>,
}

impl<B: Backend, O: HostSplitOp> Backward<B, 1> for SplitNode<O> {
    type State = SplitState<O::Saved<B>, B>;

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        // The placeholder's gradient carries nothing; consuming it frees it.
        let _ = grads.consume::<B>(&ops.node);
        let [parent] = ops.parents;
        let Some(parent) = parent else { return };
        let outputs = std::mem::take(&mut *lock(&ops.state.filed));
        let grad = self.0.backward::<B>(ops.state.saved, outputs);
        grads.register::<B>(parent.id, grad);
    }
}

/// One output's node: files the output's gradient and gives the operation's node the
/// placeholder's (zero) gradient, so that node is run.
#[derive(Debug)]
pub(super) struct OutputNode {
    pub index: usize,
}

#[derive(Debug, Clone)]
pub(super) struct OutputState<B: Backend> {
    pub filed: Filed<B>,
    pub placeholder: FloatTensor<B>,
}

impl<B: Backend> Backward<B, 1> for OutputNode {
    type State = OutputState<B>;

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let grad = grads.consume::<B>(&ops.node);
        let [parent] = ops.parents;
        let Some(parent) = parent else { return };
        lock(&ops.state.filed)[self.index] = Some(grad);
        grads.register::<B>(parent.id, ops.state.placeholder);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
