import ArgumentParser
import LanguageModels

/// Trains a two-layer MLP on a synthetic two-spiral classification task with plain autograd and SGD,
/// printing the loss as it falls. The smallest end-to-end use of TensorCore.
@main
struct TinyTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tiny-train",
        abstract: "Train a tiny MLP on two interleaved spirals and print the loss falling.")

    @Option(help: "Training steps (>= 1).") var steps = 300
    @Option(help: "Hidden width of the MLP (1...4096).") var hidden = 64
    @Option(help: "Points per spiral arm (1...100000).") var points = 200
    @Option(help: "SGD learning rate (finite, > 0).") var lr: Float = 0.5
    @Option(help: "Random seed for data and initialisation.") var seed: UInt64 = 0
    @Option(help: "Print the loss every N >= 1 steps.") var every = 25

    func validate() throws {
        do { try EnvironmentSettings.check() } catch { throw ValidationError("\(error)") }
        guard steps >= 1 else { throw ValidationError("--steps must be >= 1, got \(steps)") }
        guard (1...4096).contains(hidden) else { throw ValidationError("--hidden must be in 1...4096, got \(hidden)") }
        guard (1...100_000).contains(points) else { throw ValidationError("--points must be in 1...100000, got \(points)") }
        guard lr.isFinite && lr > 0 else { throw ValidationError("--lr must be finite and > 0, got \(lr)") }
        guard every >= 1 else { throw ValidationError("--every must be >= 1, got \(every)") }
    }

    func run() throws {
        var rng = RandomGenerator(seed: seed)
        let (x, labels) = spirals(pointsPerArm: points, generator: &rng)
        let w1 = Tensor.normal([2, hidden], std: 3, generator: &rng, requiresGrad: true)
        let b1 = Tensor.zeros([hidden], requiresGrad: true)
        let w2 = Tensor.normal([hidden, 2], std: Float(1 / Double(hidden).squareRoot()), generator: &rng, requiresGrad: true)
        let b2 = Tensor.zeros([2], requiresGrad: true)
        let params = [w1, b1, w2, b2]
        var first: Float = .nan, last: Float = .nan
        for step in 0...steps {
            let logits = (x.matmul(w1) + b1).tanh().matmul(w2) + b2
            let loss = crossEntropy(logits: logits, targets: labels)
            if step == 0 { first = loss.item }
            last = loss.item
            guard last.isFinite else { throw ValidationError("step \(step): loss is \(last); training diverged (lower --lr)") }
            if step % every == 0 || step == steps {
                let accuracy = zip(logits.argmax(axis: -1), labels).filter { $0 == $1 }.count
                print("step \(step)  loss \(String(format: "%.4f", loss.item))  accuracy \(accuracy * 100 / labels.count)%")
            }
            if step == steps { break }
            for p in params { p.zeroGrad() }
            loss.backward()
            withNoGrad {
                for p in params { p.update { value, grad in value - lr * grad } }
            }
        }
        print("loss went from \(String(format: "%.4f", first)) to \(String(format: "%.4f", last))")
    }

    /// Two interleaved spiral arms in the plane, labelled 0 and 1.
    func spirals(pointsPerArm n: Int, generator: inout RandomGenerator) -> (Tensor, [Int]) {
        var coords: [Float] = []
        var labels: [Int] = []
        for arm in 0..<2 {
            for i in 0..<n {
                let r = Float(i) / Float(n) * 1.0 + 0.05
                let theta = Float(i) / Float(n) * 2 * .pi + Float(arm) * .pi
                coords += [r * cosf(theta) + 0.02 * generator.nextNormal(), r * sinf(theta) + 0.02 * generator.nextNormal()]
                labels.append(arm)
            }
        }
        return (Tensor(coords, shape: [2 * n, 2]), labels)
    }
}

import Foundation
