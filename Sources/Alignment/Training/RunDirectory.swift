import Foundation
import LanguageModels

/// `<output>/` of a training run: `metrics.jsonl`, `checkpoint/` (a transformers checkpoint directory
/// plus `optimizer.safetensors` and `trainer_state.json`) and the temporaries of a save.
///
/// Opened with an exclusive lock for the length of a training call, so two runs cannot train into
/// one directory and every temporary found on opening belongs to a run that has ended: it is removed.
final class RunDirectory {
    let url: URL
    private let lock: FileSystem.DirectoryLock

    var checkpoint: URL { url.appendingPathComponent("checkpoint") }
    var metrics: URL { url.appendingPathComponent("metrics.jsonl") }
    private var temporary: URL { url.appendingPathComponent(".checkpoint-tmp-\(getpid())") }
    private var previous: URL { url.appendingPathComponent(".checkpoint-old-\(getpid())") }

    init(_ url: URL) throws {
        self.url = url
        do { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) } catch {
            throw FileSystemError(path: url.path, reason: "cannot create the output directory")
        }
        lock = try FileSystem.DirectoryLock(url)
        try recoverAndRemoveTemporaries()
    }

    func close() { lock.release() }

    private func exists(_ url: URL) -> Bool { FileManager.default.fileExists(atPath: url.path) }

    /// A save that fell back to two renames and was killed between them left no `checkpoint/` and
    /// the previous one as `.checkpoint-old-<pid>`: that one is put back. Everything else is stale.
    private func recoverAndRemoveTemporaries() throws {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []).filter { $0.hasPrefix(".checkpoint-") }
        if !exists(checkpoint), let old = names.sorted().first(where: { $0.hasPrefix(".checkpoint-old-") }) {
            try FileSystem.rename(url.appendingPathComponent(old), checkpoint)
        }
        for name in names {
            let stale = url.appendingPathComponent(name)
            if exists(stale) { try? FileManager.default.removeItem(at: stale) }
        }
    }

    // MARK: Checkpoint

    /// Writes the checkpoint into a temporary directory, flushes it, then replaces `checkpoint/` in
    /// one atomic exchange: a kill at any point leaves either the previous or the new checkpoint.
    func saveCheckpoint(model: any CausalLanguageModel, optimizer: Optimizer, state: Data, metadata: [String: String],
                        extraFiles: [URL] = []) throws {
        let tmp = temporary
        if exists(tmp) { try FileManager.default.removeItem(at: tmp) }
        do {
            try replaceCheckpoint(with: tmp, model: model, optimizer: optimizer, state: state, metadata: metadata, extraFiles: extraFiles)
        } catch {
            try? FileManager.default.removeItem(at: tmp)  // a full disk gets its space back
            throw error
        }
    }

    private func replaceCheckpoint(with tmp: URL, model: any CausalLanguageModel, optimizer: Optimizer, state: Data, metadata: [String: String],
                                   extraFiles: [URL]) throws {
        try model.saveHuggingFace(directory: tmp, metadata: metadata)
        for file in extraFiles {
            guard let data = FileManager.default.contents(atPath: file.path) else { throw ConfigurationError(file.path, "cannot be read") }
            try data.write(to: tmp.appendingPathComponent(file.lastPathComponent))
        }
        if model.hasLoRA { try model.saveLoRAAdapter(directory: tmp.appendingPathComponent("adapter")) }
        try SafeTensors.write(optimizer.state(), to: tmp.appendingPathComponent("optimizer.safetensors"))
        try SafeTensors.atomicWrite(state, to: tmp.appendingPathComponent("trainer_state.json"))
        try FileSystem.syncTree(tmp)
        if !exists(checkpoint) {
            try FileSystem.rename(tmp, checkpoint)
        } else if try FileSystem.exchange(tmp, checkpoint) {
            try? FileManager.default.removeItem(at: tmp)  // now holds the previous checkpoint
        } else {
            // No exchange on this filesystem: the window between the two renames is covered by
            // `recoverAndRemoveTemporaries`.
            try FileSystem.rename(checkpoint, previous)
            try FileSystem.rename(tmp, checkpoint)
            try? FileManager.default.removeItem(at: previous)
        }
        try FileSystem.sync(url)
    }

    // MARK: Metrics

    /// Appends one JSON object as a line (sorted keys, non-finite values omitted), the format a
    /// pandas user loads with `pd.read_json(path, lines=True)`.
    func appendMetrics(_ row: [String: Double]) throws {
        var line = try JSONSerialization.data(withJSONObject: row.filter { $0.value.isFinite }, options: [.sortedKeys])
        line.append(0x0A)
        do {
            if let handle = try? FileHandle(forWritingTo: metrics) {
                defer { try? handle.close() }
                try handle.seekToEnd()
                try handle.write(contentsOf: line)
            } else {
                try line.write(to: metrics)
            }
        } catch {
            throw FileSystemError(path: metrics.path, reason: "cannot append a line (disk full?)")
        }
    }

    /// Drops a torn last line (a kill or a full disk mid-append) and the rows of positions after
    /// `position` (logged by an interrupted run after its last checkpoint), so a resumed run logs
    /// each step once and never appends onto half a line.
    func truncateMetrics(after position: Int, key: String) throws {
        guard let data = FileManager.default.contents(atPath: metrics.path), !data.isEmpty else { return }
        let lines = data.split(separator: 0x0A, omittingEmptySubsequences: false)
        var kept = Data(), changed = false
        for (i, line) in lines.enumerated() {
            let isLast = i == lines.count - 1
            if isLast && line.isEmpty { break }
            let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any]
            let rowPosition = (object?[key] as? NSNumber)?.doubleValue
            let afterCheckpoint = rowPosition.map { $0 > Double(position) } ?? false
            let torn = isLast && object == nil
            if afterCheckpoint || torn { changed = true; continue }
            kept.append(contentsOf: line)
            kept.append(0x0A)
            if isLast { changed = true }  // a complete row that lost only its newline
        }
        if changed { try SafeTensors.atomicWrite(kept, to: metrics) }
    }
}
