// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "SwiftAlign",
    products: [
        .library(name: "TensorCore", targets: ["TensorCore"]),
        .library(name: "Alignment", targets: ["Alignment"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CBLASShim",
            path: "Sources/CBLASShim",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]
        ),
        .target(name: "TensorCore", dependencies: ["CBLASShim"], path: "Sources/TensorCore"),
        .target(name: "Alignment", dependencies: ["TensorCore"], path: "Sources/Alignment"),
        .executableTarget(
            name: "align",
            dependencies: ["TensorCore", "Alignment", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Sources/align"
        ),
        .target(name: "RLAIFLab", dependencies: ["TensorCore", "Alignment"], path: "Examples/RLAIFLab"),
        .executableTarget(
            name: "sft-vs-rlaif",
            dependencies: ["RLAIFLab", "TensorCore", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Examples/sft-vs-rlaif"
        ),
        .executableTarget(
            name: "rlaif-bandit",
            dependencies: ["RLAIFLab", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Examples/rlaif-bandit"
        ),
        .executableTarget(
            name: "tiny-train",
            dependencies: ["TensorCore", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Examples/tiny-train"
        ),
        .executableTarget(
            name: "char-lm",
            dependencies: ["TensorCore", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Examples/char-lm",
            exclude: ["sonnets.txt"]
        ),
        .executableTarget(
            name: "matmul-bench",
            dependencies: ["TensorCore", "CBLASShim", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/matmul-bench"
        ),
        .executableTarget(
            name: "train-bench",
            dependencies: ["TensorCore", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/train-bench"
        ),
        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore"], path: "Tests/TensorCoreTests", exclude: ["Fixtures"]),
        .testTarget(name: "RLAIFLabTests", dependencies: ["RLAIFLab", "TensorCore"], path: "Tests/RLAIFLabTests"),
        .testTarget(name: "AlignmentTests", dependencies: ["Alignment", "TensorCore"], path: "Tests/AlignmentTests", exclude: ["Fixtures"]),
        // Runs the built executables as subprocesses; depending on them makes `swift test` build them.
        .testTarget(name: "CLITests", dependencies: ["align", "tiny-train", "char-lm", "train-bench", "matmul-bench", "rlaif-bandit", "sft-vs-rlaif"],
                    path: "Tests/CLITests"),
    ],
    swiftLanguageModes: [.v6]
)
