import Foundation

/// Student's t distribution: CDF through the regularized incomplete beta function, quantiles by
/// bisection on it (exact to double precision for any degrees of freedom, no table).
public enum StudentT {
    /// P(T <= t) for `df` > 0 degrees of freedom.
    public static func cdf(_ t: Double, df: Double) -> Double {
        precondition(df > 0 && df.isFinite, "StudentT.cdf: degrees of freedom must be finite and > 0, got \(df)")
        if t.isNaN { return .nan }
        let tail = upperTail(abs(t), df: df)
        return t >= 0 ? 1 - tail : tail
    }

    /// P(T > t) for t >= 0: ½ I_{df/(df+t²)}(df/2, ½), without the cancellation of 1 - cdf.
    static func upperTail(_ t: Double, df: Double) -> Double {
        if t.isInfinite { return 0 }
        return 0.5 * regularizedIncompleteBeta(df / (df + t * t), a: df / 2, b: 0.5)
    }

    /// The p-quantile: the t with P(T <= t) = p, for p in (0, 1).
    public static func quantile(_ p: Double, df: Double) -> Double {
        precondition(p > 0 && p < 1, "StudentT.quantile: p must be in (0, 1), got \(p)")
        precondition(df > 0 && df.isFinite, "StudentT.quantile: degrees of freedom must be finite and > 0, got \(df)")
        if p == 0.5 { return 0 }
        // Solve on the upper tail (target 1 - p or p, whichever is small) so extreme p keep precision.
        let target = p > 0.5 ? 1 - p : p
        var lo = 0.0, hi = 1.0
        while upperTail(hi, df: df) > target { lo = hi; hi *= 2 }
        for _ in 0..<200 {
            let mid = 0.5 * (lo + hi)
            if mid <= lo || mid >= hi { break }
            if upperTail(mid, df: df) > target { lo = mid } else { hi = mid }
        }
        let t = 0.5 * (lo + hi)
        return p > 0.5 ? t : -t
    }

    /// Half-width multiplier of a two-sided `level` interval (0.95: 12.706 at 1 df, 1.96 in the limit).
    public static func twoSided(_ level: Double = 0.95, df: Double) -> Double { quantile(0.5 + level / 2, df: df) }

    /// I_x(a, b) by the continued fraction of Numerical Recipes §6.4 (modified Lentz), using the
    /// symmetry I_x(a, b) = 1 - I_{1-x}(b, a) where the fraction converges slowly.
    static func regularizedIncompleteBeta(_ x: Double, a: Double, b: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let logFront = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x)
        if x < (a + 1) / (a + b + 2) { return exp(logFront) * betaContinuedFraction(x, a: a, b: b) / a }
        return 1 - exp(logFront) * betaContinuedFraction(1 - x, a: b, b: a) / b
    }

    static func betaContinuedFraction(_ x: Double, a: Double, b: Double) -> Double {
        let tiny = 1e-300
        var c = 1.0, d = 1 - (a + b) * x / (a + 1)
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var h = d
        for m in 1...10_000 {
            let m = Double(m), m2 = 2 * m
            var aa = m * (b - m) * x / ((a + m2 - 1) * (a + m2))
            d = 1 + aa * d; if abs(d) < tiny { d = tiny }
            c = 1 + aa / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            h *= d * c
            aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1))
            d = 1 + aa * d; if abs(d) < tiny { d = tiny }
            c = 1 + aa / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) < 1e-16 { break }
        }
        return h
    }
}

/// Mean, sample standard deviation and standard error of a sample.
public struct SampleSummary: Equatable, Sendable {
    public var count: Int
    public var mean: Double
    /// Sample standard deviation (n - 1 denominator); 0 for fewer than two values.
    public var standardDeviation: Double

    public init(_ values: [Double]) {
        count = values.count
        mean = values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count)
        let m = mean
        standardDeviation = values.count < 2 ? 0 : (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(values.count - 1)).squareRoot()
    }

    public var standardError: Double { count == 0 ? .nan : standardDeviation / Double(count).squareRoot() }

    /// Half-width of the two-sided t-interval with count - 1 degrees of freedom (nil below two values).
    public func halfWidth(level: Double = 0.95) -> Double? {
        count < 2 ? nil : StudentT.twoSided(level, df: Double(count - 1)) * standardError
    }
}

/// The smallest true difference a two-sided test at `alpha` detects with probability `power`:
/// (t_{df, 1-α/2} + t_{df, power}) × SE, the usual approximation with central t quantiles in place of
/// the noncentral t (2.80 × SE for large df at 5% and 80%).
public func minimumDetectableEffect(standardError: Double, df: Double, alpha: Double = 0.05, power: Double = 0.8) -> Double {
    (StudentT.quantile(1 - alpha / 2, df: df) + StudentT.quantile(power, df: df)) * standardError
}

/// The mean of values that come in clusters (evaluation prompts that repeat one instruction: the
/// test split holds only about ten distinct additions), with the cluster-robust standard error
/// SE² = C/(C − 1) · Σ_c (Σ_{i∈c} (x_i − x̄))² / n² and C − 1 degrees of freedom. With every cluster
/// a single value it is the ordinary standard error.
public struct ClusteredSummary: Equatable, Sendable {
    public var count: Int
    public var clusters: Int
    public var mean: Double
    public var standardError: Double
    public var degreesOfFreedom: Int { max(clusters - 1, 0) }

    /// `cluster[i]` labels value i (any integers; equal labels share a cluster).
    public init(_ values: [Double], cluster: [Int]) {
        precondition(values.count == cluster.count, "ClusteredSummary: \(values.count) values, \(cluster.count) cluster labels")
        count = values.count
        mean = values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count)
        var sums: [Int: Double] = [:]
        for (v, c) in zip(values, cluster) { sums[c, default: 0] += v - mean }
        clusters = sums.count
        guard clusters >= 2 else { standardError = clusters == 1 && count == 1 ? 0 : .nan; return }
        let c = Double(clusters), n = Double(count)
        // Summed in cluster-label order: a Dictionary's order changes from process to process.
        let squares = sums.keys.sorted().reduce(0) { $0 + sums[$1]! * sums[$1]! }
        standardError = (c / (c - 1) * squares / (n * n)).squareRoot()
    }
}
