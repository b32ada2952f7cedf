import Foundation
import NN

/// The rotary-embedding angles of a Llama-family config, computed as transformers does: inverse
/// frequencies 1 / theta^(2i/D) (rescaled per `rope_scaling`) rounded to Float32, angles
/// position x frequency in Float32.
struct LlamaRotary: Sendable {
    let inverseFrequencies: [Float]

    init(_ c: LlamaConfig) {
        let d = c.headDim
        var inv = stride(from: 0, to: d, by: 2).map { 1 / pow(c.ropeTheta, Double($0) / Double(d)) }
        switch c.ropeScaling {
        case nil: break
        case .linear(let factor): inv = inv.map { $0 / factor }
        case let .llama3(factor, low, high, original):
            let lowWavelength = Double(original) / low, highWavelength = Double(original) / high
            inv = inv.map { f in
                let wavelength = 2 * Double.pi / f
                if wavelength < highWavelength { return f }
                if wavelength > lowWavelength { return f / factor }
                let smooth = (Double(original) / wavelength - low) / (high - low)
                return (1 - smooth) * f / factor + smooth * f
            }
        }
        inverseFrequencies = inv.map { Float($0) }
    }

    /// cos and sin tables [T, D/2] for positions `positions`.
    func tables(_ positions: Range<Int>) -> (cos: Tensor, sin: Tensor) {
        let half = inverseFrequencies.count
        var c = [Float](repeating: 0, count: positions.count * half), s = c
        for (row, p) in positions.enumerated() {
            for (i, f) in inverseFrequencies.enumerated() {
                let angle = Double(Float(p) * f)
                c[row * half + i] = Float(Foundation.cos(angle))
                s[row * half + i] = Float(Foundation.sin(angle))
            }
        }
        return (Tensor(c, shape: [positions.count, half]), Tensor(s, shape: [positions.count, half]))
    }
}
