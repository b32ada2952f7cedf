import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A filesystem call that failed, with the path and the system's reason.
public struct FileSystemError: Error, CustomStringConvertible, Equatable, Sendable {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    static func systemCall(_ path: String, _ call: String) -> FileSystemError {
        FileSystemError(path: path, reason: "\(call) failed: \(String(cString: strerror(errno)))")
    }
}

/// The few POSIX calls the run directory needs for crash-safe replacement: an exclusive lock,
/// fsync of files and directories, and an atomic exchange of two directories.
enum FileSystem {
    /// Holds `flock(LOCK_EX)` on `<directory>/.align.lock` until `release()` or deinit. flock locks
    /// belong to the open file, so a second lock from the same process is refused as well.
    final class DirectoryLock {
        private var fd: Int32

        init(_ directory: URL) throws {
            let path = directory.appendingPathComponent(".align.lock").path
            fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw FileSystemError.systemCall(path, "open") }
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
                // Some network filesystems have no flock: train unlocked rather than not at all.
                if [ENOLCK, ENOTSUP, EOPNOTSUPP].contains(errno) { return }
                let busy = errno == EWOULDBLOCK
                let error = busy ? FileSystemError(path: directory.path, reason: "another training run is using this output directory")
                                 : FileSystemError.systemCall(path, "flock")
                close(fd)
                throw error
            }
        }

        func release() {
            guard fd >= 0 else { return }
            close(fd)  // closing the only descriptor releases the flock
            fd = -1
        }

        deinit { release() }
    }

    /// Flushes `url` (a file or a directory) to disk.
    static func sync(_ url: URL) throws {
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileSystemError.systemCall(url.path, "open") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw FileSystemError.systemCall(url.path, "fsync") }
    }

    /// Flushes every file in `directory`, then the directory itself.
    static func syncTree(_ directory: URL) throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        for name in names { try sync(directory.appendingPathComponent(name)) }
        try sync(directory)
    }

    /// Swaps the directory entries `a` and `b` in one system call (Linux `renameat2` with
    /// `RENAME_EXCHANGE`, macOS `renamex_np` with `RENAME_SWAP`). Returns false when the system
    /// or filesystem cannot exchange, so the caller falls back to two renames.
    static func exchange(_ a: URL, _ b: URL) throws -> Bool {
        #if canImport(Glibc)
        // Glibc's Swift module does not declare renameat2 (a _GNU_SOURCE extension); look it up.
        typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>?, Int32, UnsafePointer<CChar>?, UInt32) -> Int32
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "renameat2") else { return false }
        let renameat2 = unsafeBitCast(symbol, to: RenameAt2.self)
        let renameExchange: UInt32 = 1 << 1
        if renameat2(AT_FDCWD, a.path, AT_FDCWD, b.path, renameExchange) == 0 { return true }
        #elseif canImport(Darwin)
        if renamex_np(a.path, b.path, UInt32(RENAME_SWAP)) == 0 { return true }
        #else
        return false
        #endif
        if [EINVAL, ENOSYS, ENOTSUP, EOPNOTSUPP].contains(errno) { return false }
        throw FileSystemError.systemCall(b.path, "rename exchange with \(a.lastPathComponent)")
    }

    /// `rename(2)`, atomic within one filesystem.
    static func rename(_ from: URL, _ to: URL) throws {
        #if canImport(Glibc)
        let result = Glibc.rename(from.path, to.path)
        #else
        let result = Darwin.rename(from.path, to.path)
        #endif
        guard result == 0 else { throw FileSystemError.systemCall(to.path, "rename from \(from.lastPathComponent)") }
    }
}
