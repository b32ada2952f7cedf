/// Namespace of the graph-free compute kernels. This target's kernels work on raw pointers and know
/// nothing of `Tensor`; TensorCore extends the namespace with loops over strided tensors.
package enum Kernels {}
