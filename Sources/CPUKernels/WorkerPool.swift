import Foundation
import Synchronization

/// The threads behind `Threading.parallelFor`: the caller runs chunk 0 of a region and worker k
/// runs chunk k. Workers spin for a short while after each region before they sleep.
///
/// A training step runs about 130 parallel regions a few microseconds apart. Through libdispatch
/// each one paid a futex wake-up of the worker and another for the join. Spinning workers pick
/// the next region up at once; they sleep after `spinLimit` idle polls (a fraction of a
/// millisecond), so a process that stops computing stops burning CPU.
///
/// Each worker has a slot of its own. A region is handed to exactly the workers it needs, by one
/// store of the closure's address into each of their slots, so a worker never sees a region that
/// is not its own, never runs a chunk twice, and a worker the region does not need stays
/// untouched. A worker clears its slot before it reports its chunk done; the caller returns only
/// after every report, so the next region's store always follows the clear.
package final class WorkerPool: @unchecked Sendable {
    package static let shared = WorkerPool()

    /// What one worker thread shares with callers.
    private final class Slot: @unchecked Sendable {
        /// Address of the region's `(Int) -> Void` while this worker owes it a chunk, else 0.
        let job = Atomic<UInt>(0)
        /// Set by the worker before it sleeps; whoever clears it owes the worker one signal.
        let asleep = Atomic<Bool>(false)
        let wakeUp = DispatchSemaphore(value: 0)
    }

    private let unfinished = Atomic<Int>(0)    // worker chunks of the current region not yet done
    private let busy = Atomic<Bool>(false)     // one region at a time
    private var slots: [Slot] = []             // worker k's is slots[k - 1]; only the caller holding `busy` touches it

    private let spinLimit = 50_000

    /// One poll of a spin loop. Every 64th yields the core, so that with more threads than cores
    /// (a test asking for 8 threads on 2 cores) the thread being waited for still gets to run.
    @inline(__always)
    private static func pause(_ polls: Int) -> Int {
        if polls & 63 == 63 { sched_yield() }
        return polls + 1
    }

    /// Whether a region is running, on any thread. Work started inside one stays on its thread.
    package var isBusy: Bool { busy.load(ordering: .relaxed) }

    /// Runs `body(c)` for c in 0..<chunks, chunk 0 on the caller. Returns false, having run
    /// nothing, while another thread's region is in flight.
    package func run(chunks: Int, _ body: (Int) -> Void) -> Bool {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        defer { busy.store(false, ordering: .releasing) }
        ensureWorkers(chunks - 1)
        withoutActuallyEscaping(body) { escapable in
            var job = escapable
            withUnsafeMutablePointer(to: &job) { jobPointer in
                let address = UInt(bitPattern: jobPointer)
                unfinished.store(chunks - 1, ordering: .relaxed)
                for slot in slots.prefix(chunks - 1) { hand(address, to: slot) }
                jobPointer.pointee(0)
                var polls = 0
                while unfinished.load(ordering: .acquiring) > 0 { polls = WorkerPool.pause(polls) }
            }
        }
        return true
    }

    /// Publishes the region to one worker and wakes it if it sleeps. Sequentially consistent with
    /// the worker's `asleep` store and re-check of `job`: either the worker sees the job before it
    /// waits, or this sees it asleep and signals.
    private func hand(_ address: UInt, to slot: Slot) {
        slot.job.store(address, ordering: .sequentiallyConsistent)
        if slot.asleep.exchange(false, ordering: .sequentiallyConsistent) { slot.wakeUp.signal() }
    }

    private func ensureWorkers(_ n: Int) {
        while slots.count < n {
            let slot = Slot()
            slots.append(slot)
            let id = slots.count
            let thread = Thread { [unowned self] in self.workerLoop(id: id, slot: slot) }
            thread.name = "TensorCore worker \(id)"
            thread.start()
        }
    }

    private func workerLoop(id: Int, slot: Slot) -> Never {
        while true {
            var polls = 0
            var address = slot.job.load(ordering: .acquiring)
            while address == 0 && polls < spinLimit {
                polls = WorkerPool.pause(polls)
                address = slot.job.load(ordering: .acquiring)
            }
            if address == 0 {
                sleep(on: slot)
                continue
            }
            // The caller waits for this chunk, so its closure stays alive until the decrement.
            UnsafeMutablePointer<(Int) -> Void>(bitPattern: address)!.pointee(id)
            slot.job.store(0, ordering: .relaxed)
            unfinished.subtract(1, ordering: .releasing)  // publishes the chunk's writes and the clear
        }
    }

    /// Sleeps until a caller hands this worker a region.
    private func sleep(on slot: Slot) {
        slot.asleep.store(true, ordering: .sequentiallyConsistent)
        if slot.job.load(ordering: .sequentiallyConsistent) == 0 {
            slot.wakeUp.wait()
        } else if !slot.asleep.exchange(false, ordering: .sequentiallyConsistent) {
            // A region arrived after all and its caller saw this worker asleep: take its signal,
            // so the semaphore never holds a stale one.
            slot.wakeUp.wait()
        }
    }
}
