/// The strided iteration every elementwise, copy and reduction kernel is written on.
///
/// A loop over `shape` with one stride vector per operand is first collapsed: size-1 dimensions
/// vanish and neighbouring dimensions merge wherever every operand walks them linearly. What is left
/// is a number of rows, each an inner run of `n` elements with one stride per operand; the body sees
/// one run at a time.
package enum StridedLoop {
    package struct Collapsed {
        package var shape: [Int]
        package var strides: [[Int]]
    }

    package static func collapse(_ shape: [Int], _ strides: [[Int]]) -> Collapsed {
        var cs: [Int] = []
        var cst: [[Int]] = strides.map { _ in [] }
        for d in 0..<shape.count where shape[d] != 1 {
            if let last = cs.indices.last,
               strides.indices.allSatisfy({ strides[$0][d] * shape[d] == cst[$0][last] }) {
                cs[last] *= shape[d]
                for o in strides.indices { cst[o][last] = strides[o][d] }
            } else {
                cs.append(shape[d])
                for o in strides.indices { cst[o].append(strides[o][d]) }
            }
        }
        if cs.isEmpty {
            cs = [1]
            cst = strides.map { _ in [0] }
        }
        return Collapsed(shape: cs, strides: cst)
    }

    /// Calls `body(offsets, n, innerStrides)` for every inner run. `offsets[o]` is the element offset
    /// of operand `o` at the run's start. Runs are spread over threads when `parallel` is true, so the
    /// body must then write disjoint memory per run.
    @inline(__always)
    package static func forEachRun(_ shape: [Int], _ strides: [[Int]], parallel: Bool = true, costPerElement: Int = 1,
                           _ body: (UnsafePointer<Int>, Int, UnsafePointer<Int>) -> Void) {
        let c = collapse(shape, strides)
        let ops = strides.count
        let rank = c.shape.count
        let inner = c.shape[rank - 1]
        let rows = c.shape.dropLast().reduce(1, *)
        let innerStrides = c.strides.map { $0[rank - 1] }
        if rows * inner == 0 { return }
        innerStrides.withUnsafeBufferPointer { inS in
            let inStrides = inS.baseAddress!
            if rows == 1 {
                func run(_ r: Range<Int>) {
                    withUnsafeTemporaryAllocation(of: Int.self, capacity: ops) { offs in
                        for o in 0..<ops { offs[o] = r.lowerBound * inStrides[o] }
                        body(offs.baseAddress!, r.count, inStrides)
                    }
                }
                if parallel { Threading.parallelFor(inner, costPerItem: costPerElement, run) } else { run(0..<inner) }
                return
            }
            func run(_ r: Range<Int>) {
                withUnsafeTemporaryAllocation(of: Int.self, capacity: ops + rank) { scratch in
                    let offs = scratch.baseAddress!, idx = offs + ops
                    // Multi-index of row r.lowerBound over the outer dims.
                    var rem = r.lowerBound
                    for d in stride(from: rank - 2, through: 0, by: -1) {
                        idx[d] = rem % c.shape[d]
                        rem /= c.shape[d]
                    }
                    for o in 0..<ops {
                        var off = 0
                        for d in 0..<(rank - 1) { off += idx[d] * c.strides[o][d] }
                        offs[o] = off
                    }
                    for _ in r {
                        body(offs, inner, inStrides)
                        // Odometer step over the outer dims.
                        var d = rank - 2
                        while d >= 0 {
                            idx[d] += 1
                            for o in 0..<ops { offs[o] += c.strides[o][d] }
                            if idx[d] < c.shape[d] { break }
                            for o in 0..<ops { offs[o] -= c.strides[o][d] * c.shape[d] }
                            idx[d] = 0
                            d -= 1
                        }
                    }
                }
            }
            if parallel { Threading.parallelFor(rows, costPerItem: inner * costPerElement, run) } else { run(0..<rows) }
        }
    }
}
