import Foundation
import TensorCore
import TestSupport
import XCTest

/// Grad mode and anomaly detection belong to the thread that sets them, as in PyTorch: a sampler
/// or evaluation running `withNoGrad` on one thread must not switch recording off for a training
/// step on another, and an anomaly on one thread is not reported to another's block.
final class AutogradThreadModeTests: XCTestCase {
    /// Runs `inside` on a new thread, calls `meanwhile` on this one while `inside` is still running,
    /// then lets the other thread finish and returns what `inside` returned.
    private func whileAnotherThreadRuns<R>(_ inside: @escaping (_ wait: () -> Void) -> R, meanwhile: () -> Void) -> R {
        let entered = DispatchSemaphore(value: 0), proceed = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        let box = Box<R>(inside)
        Thread {
            box.result = box.body { entered.signal(); proceed.wait() }
            done.signal()
        }.start()
        entered.wait()
        meanwhile()
        proceed.signal()
        done.wait()
        return box.result!
    }

    private final class Box<R>: @unchecked Sendable {
        var result: R?
        let body: (_ wait: () -> Void) -> R
        init(_ body: @escaping (_ wait: () -> Void) -> R) { self.body = body }
    }

    func testNoGradOnAnotherThreadLeavesThisThreadRecording() {
        let x = Tensor([1, 2, 3], requiresGrad: true)
        var recorded = false, enabledHere = false
        let otherSawDisabled = whileAnotherThreadRuns({ wait in
            withNoGrad { () -> Bool in
                wait()
                return !GradMode.isEnabled && !(x * x).sum().requiresGrad
            }
        }, meanwhile: {
            enabledHere = GradMode.isEnabled
            let y = (x * x).sum()
            recorded = y.requiresGrad
            y.backward()
        })
        XCTAssertTrue(enabledHere)
        XCTAssertTrue(recorded, "this thread kept recording while the other was in withNoGrad")
        XCTAssertEqual(x.grad?.scalars, [2, 4, 6])
        XCTAssertTrue(otherSawDisabled, "the other thread's withNoGrad held for its own ops")
    }

    func testAnomalyOnAnotherThreadIsNotReportedHere() {
        var hereThrew: AnomalyError?
        let otherThrew = whileAnotherThreadRuns({ wait in
            (try? withAnomalyDetection { () -> Int in
                wait()
                _ = Tensor([4]).sqrt()
                return 0
            }) == nil
        }, meanwhile: {
            _ = Tensor([-1]).log()  // NaN on this thread, outside any anomaly block
            do { try withAnomalyDetection { _ = Tensor([-1]).sqrt() } } catch { hereThrew = error as? AnomalyError }
        })
        XCTAssertEqual(hereThrew?.op, "sqrt", "this thread's own block still reports its own NaN")
        XCTAssertFalse(otherThrew, "a NaN made on another thread was reported to this block")
    }
}
