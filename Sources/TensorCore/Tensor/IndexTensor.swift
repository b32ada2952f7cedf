/// Integer indices with a shape, row-major: token ids [B, T], shifted targets [B, T-1], masks.
/// Carries the shape that flat `[Int]` arrays once passed beside them.
public struct IndexTensor: Equatable, Hashable, Sendable, CustomStringConvertible {
    public let shape: [Int]
    public let scalars: [Int]

    /// `scalars` laid out row-major in `shape`; the element count must match.
    public init(_ scalars: [Int], shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "IndexTensor: negative dimension in shape \(shape)")
        precondition(shape.reduce(1, *) == scalars.count, "IndexTensor: \(scalars.count) values do not fill shape \(shape)")
        self.shape = shape
        self.scalars = scalars
    }

    /// A 1-D index tensor.
    public init(_ scalars: [Int]) { self.init(scalars, shape: [scalars.count]) }

    /// Rows of equal length as a [rows, length] tensor.
    public init(rows: [[Int]]) {
        let length = rows.first?.count ?? 0
        precondition(rows.allSatisfy { $0.count == length }, "IndexTensor(rows:): rows of lengths \(Set(rows.map(\.count)).sorted()) differ")
        self.init(rows.flatMap { $0 }, shape: [rows.count, length])
    }

    public var rank: Int { shape.count }
    public var count: Int { scalars.count }

    /// Row `i` of a rank-2 tensor.
    public subscript(row i: Int) -> ArraySlice<Int> {
        precondition(rank == 2 && i >= 0 && i < shape[0], "IndexTensor: row \(i) of shape \(shape)")
        return scalars[(i * shape[1])..<((i + 1) * shape[1])]
    }

    /// The same values in another shape with the same element count.
    public func reshaped(_ newShape: [Int]) -> IndexTensor { IndexTensor(scalars, shape: newShape) }

    public var description: String { "IndexTensor(shape: \(shape), \(scalars.prefix(16))\(count > 16 ? "..." : ""))" }
}
