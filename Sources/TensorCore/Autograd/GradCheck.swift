/// Outcome of `gradCheck`: the worst disagreement between backward and finite differences.
public struct GradCheckResult: CustomStringConvertible {
    public var passed: Bool
    public var checkedElements: Int
    public var worstInput = 0
    public var worstIndex = 0
    public var analytic: Double = 0
    public var numeric: Double = 0

    public var description: String {
        "gradcheck \(passed ? "passed" : "FAILED") over \(checkedElements) elements; worst: input \(worstInput) flat index \(worstIndex): backward \(analytic) vs finite difference \(numeric)"
    }
}

/// Compares the gradients `backward()` computes for `inputs` (leaf tensors with `requiresGrad`)
/// with central finite differences of a random projection of `f(inputs)`:
/// L = sum(f(inputs) * w), w fixed by `seed`. L is accumulated in Double, so Float32 forward
/// passes still give differences precise to about 1e-4 with the default step.
///
/// An element passes when |analytic - numeric| <= atol + rtol * |numeric|.
public func gradCheck(_ inputs: [Tensor], eps: Float = 1e-2, atol: Double = 2e-3, rtol: Double = 2e-2,
                      seed: UInt64 = 0, _ f: ([Tensor]) -> Tensor) -> GradCheckResult {
    for (i, t) in inputs.enumerated() {
        precondition(t.isLeaf && t.requiresGrad && t.isContiguous, "gradcheck: input \(i) must be a contiguous leaf with requiresGrad")
        t.zeroGrad()
    }
    let y = f(inputs)
    var gen = RandomGenerator(seed: seed)
    let w = Tensor.uniform(y.shape, low: -1, high: 1, generator: &gen)
    let wv = w.scalars
    func projected() -> Double {
        let out = withNoGrad { f(inputs) }.scalars
        var s: Double = 0
        for (a, b) in zip(out, wv) { s += Double(a) * Double(b) }
        return s
    }
    y.backward(w)
    var result = GradCheckResult(passed: true, checkedElements: 0)
    var worstExcess = -Double.infinity
    for (i, t) in inputs.enumerated() {
        let analytic = t.grad?.scalars ?? [Float](repeating: 0, count: t.count)
        let p = t.pointer
        for j in 0..<t.count {
            let original = p[j]
            p[j] = original + eps
            let up = projected()
            p[j] = original - eps
            let down = projected()
            p[j] = original
            let numeric = (up - down) / (2 * Double(eps))
            let a = Double(analytic[j])
            // A non-finite value on either side (NaN compares false) is the worst possible excess.
            var excess = abs(a - numeric) - (atol + rtol * abs(numeric))
            if !excess.isFinite { excess = .infinity }
            result.checkedElements += 1
            if excess > worstExcess {
                worstExcess = excess
                result.worstInput = i
                result.worstIndex = j
                result.analytic = a
                result.numeric = numeric
            }
            if excess > 0 { result.passed = false }
        }
        t.zeroGrad()
    }
    return result
}
