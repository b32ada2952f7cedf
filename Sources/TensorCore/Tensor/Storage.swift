import Foundation

/// A reference-counted Float32 buffer. Tensors that are views of one another share a storage.
///
/// Buffers come from and go back to `BufferPool`, so a training loop that makes the same shapes
/// every step stops calling `malloc` (and stops page-faulting fresh `mmap`s) after its first step.
final class TensorStorage: @unchecked Sendable {
    let base: UnsafeMutablePointer<Float>
    let count: Int

    /// Uninitialised storage of `count` floats.
    init(uninitializedCount count: Int) {
        self.count = count
        self.base = BufferPool.shared.take(count)
    }

    init(zeroedCount count: Int) {
        self.count = count
        self.base = BufferPool.shared.take(count)
        if count > 0 { base.initialize(repeating: 0, count: count) }
    }

    deinit { BufferPool.shared.give(base, count) }
}

/// Size-keyed free lists of Float buffers, bounded in total bytes.
public final class BufferPool: @unchecked Sendable {
    public static let shared = BufferPool()

    private var free: [Int: [UnsafeMutablePointer<Float>]] = [:]
    private var pooledFloats = 0
    private let lock = NSLock()
    /// Upper bound of floats kept in free lists (default 1 Gi floats = 4 GiB); buffers beyond it are freed.
    public var capacityFloats = 1 << 30

    func take(_ count: Int) -> UnsafeMutablePointer<Float> {
        let n = max(count, 1)
        lock.lock()
        if var list = free[n], let p = list.popLast() {
            free[n] = list
            pooledFloats -= n
            lock.unlock()
            return p
        }
        lock.unlock()
        return UnsafeMutablePointer<Float>.allocate(capacity: n)
    }

    func give(_ p: UnsafeMutablePointer<Float>, _ count: Int) {
        let n = max(count, 1)
        lock.lock()
        if pooledFloats + n <= capacityFloats {
            free[n, default: []].append(p)
            pooledFloats += n
            lock.unlock()
        } else {
            lock.unlock()
            p.deallocate()
        }
    }

    /// Returns every pooled buffer to the system allocator.
    public func drain() {
        lock.lock()
        let lists = free
        free = [:]
        pooledFloats = 0
        lock.unlock()
        for (_, list) in lists { for p in list { p.deallocate() } }
    }

    /// Floats currently held in free lists.
    public var pooledCount: Int { lock.lock(); defer { lock.unlock() }; return pooledFloats }
}
