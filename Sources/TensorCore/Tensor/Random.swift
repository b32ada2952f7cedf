import Foundation

/// A seeded pseudo-random generator (xoshiro256**, seeded through SplitMix64). The same seed gives
/// the same sequence on every run and machine; the state can be saved and restored.
public struct RandomGenerator: RandomNumberGenerator, Codable, Equatable, Sendable {
    public private(set) var state: [UInt64]

    public init(seed: UInt64) {
        var s = seed
        func splitmix() -> UInt64 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = [splitmix(), splitmix(), splitmix(), splitmix()]
    }

    /// Stream `stream` of `seed`: independent generators for the chunks of one draw (a rollout's
    /// chunks, a sampling run's batches), so that who computes a chunk cannot change its numbers.
    /// The stream index is hashed into the seed, so stream 1 of a seed is not stream 0 of the next
    /// SplitMix seed shifted by one word.
    public init(seed: UInt64, stream: UInt64) {
        var z = stream &+ 0xD1B5_4A32_D192_ED03
        z = (z ^ (z >> 32)) &* 0xD6E8_FEB8_6659_FD93
        z = (z ^ (z >> 32)) &* 0xD6E8_FEB8_6659_FD93
        self.init(seed: seed ^ (z ^ (z >> 32)))
    }

    /// Restores a generator from a saved `state`.
    public init(state: [UInt64]) {
        precondition(state.count == 4 && state.contains { $0 != 0 }, "RandomGenerator(state:): needs four words, not all zero")
        self.state = state
    }

    public mutating func next() -> UInt64 {
        let result = rotl(state[1] &* 5, 7) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]
        state[3] ^= state[1]
        state[1] ^= state[2]
        state[0] ^= state[3]
        state[2] ^= t
        state[3] = rotl(state[3], 45)
        return result
    }

    @inline(__always) private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in [0, 1) with 24 random bits.
    public mutating func nextUniform() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// Standard normal (Box-Muller; one draw per call keeps the stream position simple).
    public mutating func nextNormal() -> Float {
        let u1 = (Double(next() >> 11) + 1) * (1.0 / 9_007_199_254_740_993.0)
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        return Float((-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2))
    }

    /// 0..<n in a random order (Fisher-Yates from the back). Written out rather than
    /// `shuffle(using:)` so the order never depends on the standard library's algorithm: resumed
    /// runs rely on it.
    public mutating func permutation(_ n: Int) -> [Int] {
        var idx = Array(0..<n)
        for i in stride(from: n - 1, to: 0, by: -1) { idx.swapAt(i, Int(next() % UInt64(i + 1))) }
        return idx
    }

    /// An index drawn with probability proportional to `weights` (non-negative, not all zero).
    public mutating func nextCategorical(_ weights: UnsafeBufferPointer<Float>) -> Int {
        var total: Double = 0
        for w in weights {
            precondition(w >= 0, "categorical: weight \(w) is negative or NaN")
            total += Double(w)
        }
        precondition(total > 0 && total.isFinite, "categorical: weights must be non-negative with a positive finite sum")
        let u = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0) * total
        var acc: Double = 0
        for (i, w) in weights.enumerated() {
            acc += Double(w)
            if u < acc { return i }
        }
        return weights.lastIndex { $0 > 0 } ?? 0
    }
}

extension Tensor {
    /// Uniform in [low, high).
    public static func uniform(_ shape: [Int], low: Float = 0, high: Float = 1, generator: inout RandomGenerator,
                               requiresGrad: Bool = false) -> Tensor {
        let t = Tensor(uninitializedShape: shape)
        for i in 0..<t.count { t.pointer[i] = low + (high - low) * generator.nextUniform() }
        t.requiresGrad = requiresGrad
        return t
    }

    /// Normal with the given mean and standard deviation.
    public static func normal(_ shape: [Int], mean: Float = 0, std: Float = 1, generator: inout RandomGenerator,
                              requiresGrad: Bool = false) -> Tensor {
        let t = Tensor(uninitializedShape: shape)
        for i in 0..<t.count { t.pointer[i] = mean + std * generator.nextNormal() }
        t.requiresGrad = requiresGrad
        return t
    }

    /// One index per row of the last dimension, drawn with probability proportional to the row's
    /// non-negative weights (PyTorch `torch.multinomial(p, 1)` per row).
    public func sampleCategorical(generator: inout RandomGenerator) -> [Int] {
        let c = contiguousData()
        defer { withExtendedLifetime(c) {} }
        let n = shape.last ?? 0
        let rows = count / Swift.max(n, 1)
        return (0..<rows).map { r in generator.nextCategorical(UnsafeBufferPointer(start: c.pointer + r * n, count: n)) }
    }
}
