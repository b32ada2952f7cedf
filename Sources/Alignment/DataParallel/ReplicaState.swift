import Foundation
import LanguageModels

/// Keeping the ranks' copies of a model and its optimizer identical: rank 0's copy sent to every
/// rank (at the start of training and after a resume, so a checkpoint written by any number of
/// ranks resumes on any other), and a cheap checksum that shows they still agree.
public enum ReplicaState {
    /// Every tensor of `model` (trainable or not) and of `optimizer`'s state, in a fixed order.
    static func tensors(model: any CausalLanguageModel, optimizer: Optimizer) -> [(name: String, tensor: Tensor)] {
        model.namedParameters().map { ("model \($0.name)", $0.tensor) }
            + optimizer.state().sorted { $0.key < $1.key }.map { ("optimizer \($0.key)", $0.value) }
    }

    /// Copies rank 0's parameters and optimizer state (step count included) to every rank.
    static func broadcastFromRankZero(_ group: any DataParallelGroup, model: any CausalLanguageModel, optimizer: Optimizer) throws {
        let modelTensors = model.namedParameters().map(\.tensor)
        var flat = flatten(modelTensors)
        try group.broadcast(&flat, root: 0)
        if group.rank != 0 { unflatten(flat, into: modelTensors) }

        let state = optimizer.state().sorted { $0.key < $1.key }
        var stateFlat = flatten(state.map(\.value))
        try group.broadcast(&stateFlat, root: 0)
        if group.rank != 0 {
            // `state()` hands out the live buffers plus a copy of the step count: load them all back.
            let copies = state.map { Tensor.zeros($0.value.shape) }
            unflatten(stateFlat, into: copies)
            try optimizer.loadState(Dictionary(uniqueKeysWithValues: zip(state.map(\.key), copies)))
        }
    }

    /// FNV-1a-style hash over the bits of `tensors` (names included, one 32-bit word per value):
    /// equal when every value is, and almost surely different otherwise.
    public static func checksum(_ tensors: [(name: String, tensor: Tensor)]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ word: UInt64) { hash = (hash ^ word) &* 0x100_0000_01b3 }
        for (name, tensor) in tensors {
            for byte in name.utf8 { mix(UInt64(byte)) }
            for value in tensor.scalars { mix(UInt64(value.bitPattern)) }
        }
        return hash
    }

    /// Compares every rank's checksum of its model and optimizer state; throws naming the ranks that
    /// differ from rank 0. Returns the common checksum.
    @discardableResult
    public static func verify(_ group: any DataParallelGroup, model: any CausalLanguageModel, optimizer: Optimizer) throws -> UInt64 {
        let mine = checksum(tensors(model: model, optimizer: optimizer))
        let all = try group.allGather(withUnsafeBytes(of: mine.littleEndian) { Array($0) }).map { bytes -> UInt64 in
            bytes.count == 8 ? UInt64(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }) : 0
        }
        let differing = all.indices.filter { all[$0] != all[0] }
        guard differing.isEmpty else {
            throw DataParallelError("the ranks' copies of the model and optimizer state differ: rank 0 has checksum "
                                    + String(all[0], radix: 16) + ", "
                                    + differing.map { "rank \($0) " + String(all[$0], radix: 16) }.joined(separator: ", "))
        }
        return mine
    }

    static func flatten(_ tensors: [Tensor]) -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(tensors.reduce(0) { $0 + $1.count })
        for t in tensors { out += t.scalars }
        return out
    }

    static func unflatten(_ values: [Float], into tensors: [Tensor]) {
        var offset = 0
        values.withUnsafeBufferPointer { src in
            for t in tensors {
                precondition(t.isContiguous, "ReplicaState: tensor of shape \(t.shape) is not contiguous")
                t.pointer.update(from: src.baseAddress! + offset, count: t.count)
                offset += t.count
            }
        }
    }
}
