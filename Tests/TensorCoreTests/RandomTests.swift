import TestSupport
import XCTest
import TensorCore

final class RandomTests: XCTestCase {
    func testSameSeedSameTensors() {
        var g1 = RandomGenerator(seed: 1234), g2 = RandomGenerator(seed: 1234)
        XCTAssertEqual(g1, g2)
        XCTAssertEqual(Tensor.uniform([50], generator: &g1).scalars, Tensor.uniform([50], generator: &g2).scalars)
        XCTAssertEqual(Tensor.normal([3, 7], generator: &g1).scalars, Tensor.normal([3, 7], generator: &g2).scalars)
        XCTAssertEqual(g1, g2)
        XCTAssertEqual((0..<10).map { _ in g1.next() }, (0..<10).map { _ in g2.next() })
    }

    func testDifferentSeedsDiffer() {
        let seeds: [UInt64] = [0, 1, 2, 42, .max]
        var firsts: Set<[Float]> = []
        for s in seeds {
            var g = RandomGenerator(seed: s)
            firsts.insert(Tensor.uniform([8], generator: &g).scalars)
        }
        XCTAssertEqual(firsts.count, seeds.count)
        var a = RandomGenerator(seed: 0), b = RandomGenerator(seed: 1)
        XCTAssertNotEqual(a.state, b.state)
        XCTAssertNotEqual(a.next(), b.next())
    }

    func testKnownStreamIsStable() {
        // xoshiro256** reference: the state after SplitMix64 seeding of 0 and the first outputs must not
        // change between versions (checkpoints store generator states).
        var g = RandomGenerator(seed: 0)
        XCTAssertEqual(g.state, [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4,
                                 0x06C4_5D18_8009_454F, 0xF88B_B8A8_724C_81EC])
        let first = g.next()
        // result = rotl(s1 * 5, 7) * 9
        let s1: UInt64 = 0x6E78_9E6A_A1B9_65F4
        let m = s1 &* 5
        XCTAssertEqual(first, ((m << 7) | (m >> 57)) &* 9)
    }

    func testStateSaveRestoreContinuesStream() throws {
        var g = RandomGenerator(seed: 99)
        _ = Tensor.normal([17], generator: &g)
        let saved = g.state
        let expected = Tensor.uniform([20], generator: &g).scalars + Tensor.normal([5], generator: &g).scalars
        var restored = RandomGenerator(state: saved)
        let got = Tensor.uniform([20], generator: &restored).scalars + Tensor.normal([5], generator: &restored).scalars
        XCTAssertEqual(got, expected)
        XCTAssertEqual(restored, g)
        // Codable round trip as well.
        var copy = try JSONDecoder().decode(RandomGenerator.self, from: JSONEncoder().encode(g))
        XCTAssertEqual(copy.next(), g.next())
    }

    func testUniformRangeAndMean() {
        var g = RandomGenerator(seed: 5)
        let n = 100_000
        let u = Tensor.uniform([n], generator: &g).scalars
        XCTAssertTrue(u.allSatisfy { $0 >= 0 && $0 < 1 })
        let mean = u.reduce(0.0) { $0 + Double($1) } / Double(n)
        // Standard error of the mean is sqrt(1/12 / n) ≈ 0.0009.
        XCTAssertEqual(mean, 0.5, accuracy: 0.005)
        let v = Tensor.uniform([n], low: -3, high: 2, generator: &g).scalars
        XCTAssertTrue(v.allSatisfy { $0 >= -3 && $0 < 2 })
        XCTAssertEqual(v.reduce(0.0) { $0 + Double($1) } / Double(n), -0.5, accuracy: 0.03)
        // Both halves of the range get used.
        XCTAssertLessThan(v.min()!, -2.9)
        XCTAssertGreaterThan(v.max()!, 1.9)
    }

    func testNormalMomentsAndShape() {
        var g = RandomGenerator(seed: 6)
        let n = 100_000
        let x = Tensor.normal([100, 1000], generator: &g)
        XCTAssertEqual(x.shape, [100, 1000])
        let v = x.scalars.map(Double.init)
        XCTAssertTrue(v.allSatisfy { $0.isFinite })
        let mean = v.reduce(0, +) / Double(n)
        let std = (v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n)).squareRoot()
        XCTAssertEqual(mean, 0, accuracy: 0.02)
        XCTAssertEqual(std, 1, accuracy: 0.02)
        // Tails: about 4.55% beyond 2 sigma.
        let beyond2 = Double(v.filter { abs($0) > 2 }.count) / Double(n)
        XCTAssertEqual(beyond2, 0.0455, accuracy: 0.005)
        // Symmetric.
        let positive = Double(v.filter { $0 > 0 }.count) / Double(n)
        XCTAssertEqual(positive, 0.5, accuracy: 0.01)

        let y = Tensor.normal([n], mean: 3, std: 0.5, generator: &g).scalars.map(Double.init)
        let my = y.reduce(0, +) / Double(n)
        let sy = (y.reduce(0) { $0 + ($1 - my) * ($1 - my) } / Double(n)).squareRoot()
        XCTAssertEqual(my, 3, accuracy: 0.01)
        XCTAssertEqual(sy, 0.5, accuracy: 0.01)
    }

    func testRequiresGradFlag() {
        var g = RandomGenerator(seed: 1)
        XCTAssertTrue(Tensor.uniform([2], generator: &g, requiresGrad: true).requiresGrad)
        XCTAssertTrue(Tensor.normal([2], generator: &g, requiresGrad: true).requiresGrad)
        XCTAssertFalse(Tensor.normal([2], generator: &g).requiresGrad)
    }

    func testSampleCategoricalFrequencies() {
        var g = RandomGenerator(seed: 7)
        let p: [Float] = [0.1, 0, 0.2, 0.7, 0]
        let probs = Tensor(p)
        let draws = 100_000
        var counts = [Int](repeating: 0, count: p.count)
        for _ in 0..<draws {
            let s = probs.sampleCategorical(generator: &g)
            XCTAssertEqual(s.count, 1)
            counts[s[0]] += 1
        }
        XCTAssertEqual(counts[1], 0, "zero weight never drawn")
        XCTAssertEqual(counts[4], 0, "zero weight never drawn")
        for (i, pi) in p.enumerated() {
            let freq = Double(counts[i]) / Double(draws)
            let se = (Double(pi) * (1 - Double(pi)) / Double(draws)).squareRoot()
            XCTAssertEqual(freq, Double(pi), accuracy: 5 * se + 1e-12, "category \(i)")
        }
    }

    func testSampleCategoricalUnnormalisedRows() {
        // Rows of the last dimension sample independently; weights need not sum to one.
        var g = RandomGenerator(seed: 8)
        let w = Tensor([0, 3, 1,
                        5, 0, 0,
                        0, 0, 2,
                        1, 1, 2], shape: [2, 2, 3])
        let draws = 40_000
        var counts = [[Int]](repeating: [0, 0, 0], count: 4)
        for _ in 0..<draws {
            let s = w.sampleCategorical(generator: &g)
            XCTAssertEqual(s.count, 4)
            for (r, c) in s.enumerated() { counts[r][c] += 1 }
        }
        XCTAssertEqual(counts[1], [draws, 0, 0])
        XCTAssertEqual(counts[2], [0, 0, draws])
        XCTAssertEqual(counts[0][0], 0)
        let expected: [[Double]] = [[0, 0.75, 0.25], [1, 0, 0], [0, 0, 1], [0.25, 0.25, 0.5]]
        for r in [0, 3] {
            for c in 0..<3 {
                let p = expected[r][c]
                let se = (p * (1 - p) / Double(draws)).squareRoot()
                XCTAssertEqual(Double(counts[r][c]) / Double(draws), p, accuracy: 5 * se + 1e-12, "row \(r) col \(c)")
            }
        }
    }

    func testSampleCategoricalFromView() {
        // A transposed view samples along its own last dimension.
        var g = RandomGenerator(seed: 9)
        let w = Tensor([1, 0,
                        0, 0,
                        0, 1], shape: [3, 2]).T   // rows: [1,0,0] and [0,0,1]
        for _ in 0..<100 { XCTAssertEqual(w.sampleCategorical(generator: &g), [0, 2]) }
    }

    func testSampleCategoricalTinyWeight() {
        // A tiny but non-zero weight next to zeros: only that entry can be drawn.
        var g = RandomGenerator(seed: 10)
        let w = Tensor([0, 0, 1e-30, 0])
        for _ in 0..<100 { XCTAssertEqual(w.sampleCategorical(generator: &g), [2]) }
    }

    func testGeneratorConformsToRandomNumberGenerator() {
        var g1 = RandomGenerator(seed: 77), g2 = RandomGenerator(seed: 77)
        let a = (0..<20).map { _ in Int.random(in: 0..<1000, using: &g1) }
        let b = (0..<20).map { _ in Int.random(in: 0..<1000, using: &g2) }
        XCTAssertEqual(a, b)
        XCTAssertEqual(Set(a).count > 10, true)
    }
}

final class PermutationTests: XCTestCase {
    func testPermutationIsSeededAndComplete() {
        var a = RandomGenerator(seed: 3), b = RandomGenerator(seed: 3)
        let p = a.permutation(50)
        XCTAssertEqual(p, b.permutation(50))
        XCTAssertEqual(p.sorted(), Array(0..<50))
        XCTAssertNotEqual(p, Array(0..<50))
        XCTAssertEqual(a.permutation(0), [])
    }

    /// Streams of one seed are reproducible, differ from each other and from the plain seed, and
    /// stream 1 is not stream 0 of the next SplitMix seed shifted by one word (as seed + c x the
    /// SplitMix increment would be).
    func testStreamsAreIndependentAndReproducible() {
        func words(_ g: RandomGenerator, _ n: Int = 8) -> [UInt64] { var g = g; return (0..<n).map { _ in g.next() } }
        XCTAssertEqual(words(RandomGenerator(seed: 7, stream: 3)), words(RandomGenerator(seed: 7, stream: 3)))
        let streams = (0..<16).map { words(RandomGenerator(seed: 7, stream: UInt64($0))) }
        XCTAssertEqual(Set(streams.flatMap { $0 }).count, 16 * 8)
        XCTAssertFalse(streams.contains(words(RandomGenerator(seed: 7))))
        let s0 = RandomGenerator(seed: 7, stream: 0).state, s1 = RandomGenerator(seed: 7, stream: 1).state
        XCTAssertTrue(Set(s0).isDisjoint(with: s1))
    }
}
