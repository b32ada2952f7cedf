import Foundation

/// The autograd switches of one thread: grad mode and anomaly detection. As in PyTorch, they are
/// per thread, so a `withNoGrad` or `withAnomalyDetection` on one thread (a sampler, an evaluation)
/// never changes what another thread's training step records or checks.
final class AutogradThreadState {
    var gradEnabled = true
    var anomalyEnabled = false
    /// True while `backward()` runs on this thread.
    var inBackward = false
    var firstAnomaly: AnomalyError?

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let status = pthread_key_create(&key) { state in
            guard let state else { return }
            Unmanaged<AutogradThreadState>.fromOpaque(state).release()
        }
        precondition(status == 0, "AutogradThreadState: pthread_key_create failed with \(status)")
        return key
    }()

    /// This thread's state, made on first use and released when the thread exits.
    static var current: AutogradThreadState {
        if let existing = pthread_getspecific(key) {
            return Unmanaged<AutogradThreadState>.fromOpaque(existing).takeUnretainedValue()
        }
        let state = AutogradThreadState()
        pthread_setspecific(key, Unmanaged.passRetained(state).toOpaque())
        return state
    }
}
