// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "SwiftAlign",
    products: [
        // Each layer is a product; each re-exports the one below it.
        .library(name: "TensorCore", targets: ["TensorCore"]),
        .library(name: "NN", targets: ["NN"]),
        .library(name: "LanguageModels", targets: ["LanguageModels"]),
        .library(name: "Alignment", targets: ["Alignment"]),
        // Data-parallel training over Open MPI; a separate product so the layers above never need MPI.
        .library(name: "DistributedTraining", targets: ["DistributedTraining"]),
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
        // Hand-written C kernels (small-M GEMM, fused attention heads): AVX2/FMA per function with a
        // runtime CPU check, and a portable fallback. No CPU-specific build flags.
        .target(name: "CFusedKernels", path: "Sources/CFusedKernels"),
        // Raw-pointer kernels: GEMM, SIMD math, row reductions, the worker pool. Knows nothing of Tensor.
        .target(name: "CPUKernels", dependencies: ["CBLASShim", "CFusedKernels"], path: "Sources/CPUKernels"),
        // Tensor, autograd, differentiable ops, linear algebra.
        .target(name: "TensorCore", dependencies: ["CPUKernels", "CBLASShim", "CFusedKernels"], path: "Sources/TensorCore"),
        // Modules and layers, optimizers and schedules, safetensors.
        .target(name: "NN", dependencies: ["TensorCore"], path: "Sources/NN"),
        // The causal-LM protocol, GPT-2, transformers layouts, tokenizers, sampling.
        .target(name: "LanguageModels", dependencies: ["NN"], path: "Sources/LanguageModels"),
        // SFT, reward, DPO family and PPO on any CausalLanguageModel.
        .target(name: "Alignment", dependencies: ["LanguageModels"], path: "Sources/Alignment"),
        // MPI through pkg-config's ompi-c when libopenmpi-dev is installed; without it the shim
        // compiles to stubs that report MPI unavailable, so `swift build` never needs MPI.
        .systemLibrary(
            name: "CMPI",
            path: "Sources/CMPI",
            pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]
        ),
        // Alignment's DataParallelGroup over MPI_COMM_WORLD (started only under mpirun).
        .target(name: "DistributedTraining", dependencies: ["Alignment", "CMPI"], path: "Sources/DistributedTraining"),
        .executableTarget(
            name: "align",
            dependencies: ["Alignment", "DistributedTraining", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Sources/align"
        ),
        .target(name: "RLAIFLab", dependencies: ["Alignment"], path: "Examples/RLAIFLab"),
        .executableTarget(
            name: "sft-vs-rlaif",
            dependencies: ["RLAIFLab", "DistributedTraining", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Examples/sft-vs-rlaif"
        ),
        .executableTarget(
            name: "rlaif-bandit",
            dependencies: ["RLAIFLab", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Examples/rlaif-bandit"
        ),
        .executableTarget(
            name: "tiny-train",
            dependencies: ["LanguageModels", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Examples/tiny-train"
        ),
        .executableTarget(
            name: "char-lm",
            dependencies: ["LanguageModels", .product(name: "ArgumentParser", package: "swift-argument-parser")],
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
            dependencies: ["Alignment", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/train-bench"
        ),
        .target(name: "TestSupport", dependencies: ["TensorCore"], path: "Tests/TestSupport"),
        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore", "TestSupport"], path: "Tests/TensorCoreTests"),
        .testTarget(name: "NNTests", dependencies: ["NN", "TestSupport"], path: "Tests/NNTests"),
        .testTarget(name: "LanguageModelsTests", dependencies: ["LanguageModels", "TestSupport"], path: "Tests/LanguageModelsTests",
                    exclude: ["Fixtures"]),
        .testTarget(name: "RLAIFLabTests", dependencies: ["RLAIFLab", "Alignment"], path: "Tests/RLAIFLabTests", exclude: ["Fixtures"]),
        .testTarget(name: "AlignmentTests", dependencies: ["Alignment"], path: "Tests/AlignmentTests", exclude: ["Fixtures"]),
        // Runs the built executables as subprocesses; depending on them makes `swift test` build them.
        .testTarget(name: "CLITests", dependencies: ["LanguageModels", "align", "tiny-train", "char-lm", "train-bench", "matmul-bench", "rlaif-bandit", "sft-vs-rlaif"],
                    path: "Tests/CLITests"),
    ],
    swiftLanguageModes: [.v6]
)
