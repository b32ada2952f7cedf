import Foundation
import LanguageModels

/// Gradients summed over ranks in a few large flat buffers instead of one collective per tensor.
///
/// Consecutive parameters fill a bucket up to `capacity` floats (a larger parameter gets a bucket
/// of its own). Each bucket ends with one flag per parameter, 1 where that rank has a gradient: a
/// parameter gets the summed gradient when any rank had one, and keeps none otherwise (as in one
/// process, where the optimizer skips a parameter without a gradient).
package struct GradientBuckets: Equatable {
    package struct Entry: Equatable {
        package let parameter: Int
        /// Start of the parameter's gradient in its bucket's buffer.
        package let offset: Int
        package let count: Int
    }

    package let buckets: [[Entry]]

    /// 4 Mi floats (16 MiB): a few collectives per step for models up to a few hundred million parameters.
    package static let defaultCapacity = 1 << 22

    package init(counts: [Int], capacity: Int = defaultCapacity) {
        precondition(capacity >= 1, "GradientBuckets: capacity \(capacity)")
        var buckets: [[Entry]] = [], current: [Entry] = [], filled = 0
        for (i, count) in counts.enumerated() {
            if !current.isEmpty && filled + count > capacity {
                buckets.append(current)
                current = []
                filled = 0
            }
            current.append(Entry(parameter: i, offset: filled, count: count))
            filled += count
        }
        if !current.isEmpty { buckets.append(current) }
        self.buckets = buckets
    }

    /// Floats in `bucket`'s buffer: its gradients, then one presence flag per parameter.
    package func floats(_ bucket: Int) -> Int {
        buckets[bucket].reduce(0) { $0 + $1.count } + buckets[bucket].count
    }

    /// Replaces every parameter's gradient with the sum over the group's ranks.
    package func allReduce(_ parameters: [Tensor], group: any DataParallelGroup) throws {
        for (b, entries) in buckets.enumerated() {
            let gradients = entries.reduce(0) { $0 + $1.count }
            var buffer = [Float](repeating: 0, count: floats(b))
            buffer.withUnsafeMutableBufferPointer { out in
                for (k, e) in entries.enumerated() {
                    guard let g = parameters[e.parameter].grad else { continue }
                    let c = g.contiguousData()
                    withExtendedLifetime(c) { (out.baseAddress! + e.offset).update(from: c.pointer, count: e.count) }
                    out[gradients + k] = 1
                }
            }
            try group.allReduceSum(&buffer)
            buffer.withUnsafeBufferPointer { summed in
                for (k, e) in entries.enumerated() where summed[gradients + k] > 0 {
                    let p = parameters[e.parameter]
                    let g = p.grad.flatMap { $0.isContiguous ? $0 : nil } ?? Tensor.zeros(p.shape)
                    g.pointer.update(from: summed.baseAddress! + e.offset, count: e.count)
                    if p.grad !== g { p.setGrad(g) }
                }
            }
        }
    }
}
