// swift-tools-version: 6.1
// Regression benchmarks for TensorCore (ordo-one/benchmark, formerly package-benchmark).
// A separate package on purpose: the root SwiftAlign package, and so its consumers, do not
// depend on Benchmark. Run from this folder: `swift package benchmark` (see README.md).
import PackageDescription

let package = Package(
    name: "SwiftAlignRegressionBenchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        // The repository root. `name:` lets the product reference below work whatever the
        // checkout folder is called (a path dependency's identity is its folder name).
        .package(name: "SwiftAlign", path: "../.."),
        // traits: ["MallocInterposer"] keeps malloc statistics but drops the default
        // "RuntimeInterposer" trait, whose ordo-one/swift-runtime-interposer dependency
        // (Linux + Swift 6.3 only) is not available offline; SwiftPM then never fetches it.
        .package(url: "https://github.com/ordo-one/benchmark.git", exact: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "TensorCoreBenchmarks",
            dependencies: [
                .product(name: "LanguageModels", package: "SwiftAlign"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/TensorCoreBenchmarks",
            swiftSettings: [.swiftLanguageMode(.v5)],
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark"),
            ]
        ),
    ]
)
