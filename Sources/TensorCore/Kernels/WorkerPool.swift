import Foundation
import Synchronization

/// The threads behind `Threading.parallelFor`: the caller runs chunk 0 of a region and worker k
/// runs chunk k. Workers spin for a short while after each region before they sleep.
///
/// A training step runs about 130 parallel regions a few microseconds apart. Through libdispatch
/// each one paid a futex wake-up of the worker and another for the join. Spinning workers pick
/// the next region up at once; they sleep after `spinLimit` idle polls (a fraction of a
/// millisecond), so a process that stops computing stops burning CPU.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool()

    /// Bumped once per region. The job fields below are written before the bump and validated by
    /// re-reading it (a sequence lock), so a worker never mixes two regions' fields.
    private let generation = Atomic<Int>(0)
    private let jobChunks = Atomic<Int>(0)
    private let jobBody = Atomic<UInt>(0)      // address of the caller's `(Int) -> Void`
    private let unfinished = Atomic<Int>(0)    // worker chunks not yet run to completion
    private let sleepers = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)     // one region at a time
    private let wakeUp = DispatchSemaphore(value: 0)
    private var workerCount = 0                // only the caller holding `busy` changes it

    private let spinLimit = 50_000

    /// One poll of a spin loop. Every 64th yields the core, so that with more threads than cores
    /// (a test asking for 8 threads on 2 cores) the thread being waited for still gets to run.
    @inline(__always)
    private static func pause(_ polls: Int) -> Int {
        if polls & 63 == 63 { sched_yield() }
        return polls + 1
    }

    /// Whether a region is running, on any thread. Work started inside one stays on its thread.
    var isBusy: Bool { busy.load(ordering: .relaxed) }

    /// Runs `body(c)` for c in 0..<chunks, chunk 0 on the caller. Returns false, having run
    /// nothing, while another thread's region is in flight.
    func run(chunks: Int, _ body: (Int) -> Void) -> Bool {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        defer { busy.store(false, ordering: .releasing) }
        ensureWorkers(chunks - 1)
        withoutActuallyEscaping(body) { escapable in
            var job = escapable
            withUnsafeMutablePointer(to: &job) { jobPointer in
                jobChunks.store(chunks, ordering: .relaxed)
                jobBody.store(UInt(bitPattern: jobPointer), ordering: .relaxed)
                unfinished.store(chunks - 1, ordering: .relaxed)
                generation.add(1, ordering: .sequentiallyConsistent)
                let asleep = sleepers.load(ordering: .sequentiallyConsistent)
                for _ in 0..<min(asleep, workerCount) { wakeUp.signal() }
                jobPointer.pointee(0)
                var polls = 0
                while unfinished.load(ordering: .acquiring) > 0 { polls = WorkerPool.pause(polls) }
            }
        }
        return true
    }

    private func ensureWorkers(_ n: Int) {
        while workerCount < n {
            workerCount += 1
            let id = workerCount, seen = generation.load(ordering: .acquiring)
            let thread = Thread { [unowned self] in self.workerLoop(id: id, seen: seen) }
            thread.name = "TensorCore worker \(id)"
            thread.start()
        }
    }

    private func workerLoop(id: Int, seen start: Int) -> Never {
        var seen = start
        while true {
            var polls = 0
            var current = generation.load(ordering: .acquiring)
            while current == seen && polls < spinLimit {
                polls = WorkerPool.pause(polls)
                current = generation.load(ordering: .acquiring)
            }
            if current == seen {
                // Idle: sleep until a caller publishes a region. Registering before the re-check
                // means a region published in between is never missed; a stale signal only costs
                // one more round of spinning.
                sleepers.add(1, ordering: .sequentiallyConsistent)
                if generation.load(ordering: .sequentiallyConsistent) == seen { wakeUp.wait() }
                sleepers.subtract(1, ordering: .sequentiallyConsistent)
                continue
            }
            let chunks = jobChunks.load(ordering: .acquiring), body = jobBody.load(ordering: .acquiring)
            // A newer region was published while the fields were read: take that one instead.
            if generation.load(ordering: .acquiring) != current { continue }
            seen = current
            // The caller waits for this chunk, so its closure stays alive until the decrement.
            if id < chunks, let p = UnsafeMutablePointer<(Int) -> Void>(bitPattern: body) {
                p.pointee(id)
                unfinished.subtract(1, ordering: .releasing)
            }
        }
    }
}
