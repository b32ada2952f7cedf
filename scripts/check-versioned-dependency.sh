#!/usr/bin/env bash
# Proves a package outside this repository can depend on TensorCore through an ordinary versioned
# dependency (`from:`), import it, and compute a matmul and its gradients.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q . "$work/upstream"
# The committed tree, tagged as a release would be.
git -C "$work/upstream" tag 0.1.0
mkdir -p "$work/consumer/Sources/consumer"
cat > "$work/consumer/Package.swift" <<SWIFT
// swift-tools-version:6.0
import PackageDescription
let package = Package(
    name: "consumer",
    dependencies: [.package(url: "file://$work/upstream", from: "0.1.0")],
    targets: [.executableTarget(name: "consumer", dependencies: [.product(name: "TensorCore", package: "upstream"),
                                                                        .product(name: "Alignment", package: "upstream")])]
)
SWIFT
cat > "$work/consumer/Sources/consumer/main.swift" <<'SWIFT'
import TensorCore
import Alignment
let a = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3], requiresGrad: true)
let b = Tensor([1, 0, 0, 1, 1, 1], shape: [3, 2], requiresGrad: true)
let c = a.matmul(b)
c.sum().backward()
print("c =", c.scalars, "dA =", a.grad!.scalars, "dB =", b.grad!.scalars)
precondition(c.scalars == [4, 5, 10, 11])
precondition(a.grad!.scalars == [1, 1, 2, 1, 1, 2])
precondition(b.grad!.scalars == [5, 5, 7, 7, 9, 9])
// The upper layers come by version too (Alignment re-exports LanguageModels, NN and TensorCore).
let model = GPT(GPTConfig(vocabSize: 8, contextLength: 4, dModel: 8, layers: 1, heads: 2))
precondition(model.logits(fromHidden: model.hiddenStates([1, 2, 3], batch: 1)).shape == [1, 3, 8])
print("versioned dependency: ok")
SWIFT
(cd "$work/consumer" && swift build -q 2>&1 | grep -v "^$" || true; swift run -q consumer)
