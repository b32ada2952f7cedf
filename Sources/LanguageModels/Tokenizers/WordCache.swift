import Foundation

/// Ids of recently seen pre-tokenized words, shared by all copies of a tokenizer (as the cache in
/// tokenizers' BPE model): most words of a text repeat, and merging them again is most of the work.
final class WordCache: @unchecked Sendable {  // every access holds `lock`
    private let lock = NSLock()
    private var ids: [[UInt8]: [Int]] = [:]
    let capacity: Int
    /// Longer words are not cached: they are rare and would crowd the table.
    static let maxWordBytes = 256

    init(capacity: Int = 10_000) { self.capacity = capacity }

    func get(_ word: [UInt8]) -> [Int]? {
        lock.lock()
        defer { lock.unlock() }
        return ids[word]
    }

    func set(_ word: [UInt8], _ value: [Int]) {
        guard word.count <= Self.maxWordBytes else { return }
        lock.lock()
        defer { lock.unlock() }
        if ids.count >= capacity { ids.removeAll(keepingCapacity: true) }
        ids[word] = value
    }
}
