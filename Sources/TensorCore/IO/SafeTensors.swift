import Foundation

/// A safetensors file that cannot be read, or a write that failed; names the file and the problem.
public struct SafeTensorsError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let reason: String
    public var description: String { "\(file): \(reason)" }
}

/// Reading and writing the safetensors format used by PyTorch and Hugging Face: an 8-byte
/// little-endian header length, a JSON header `{name: {dtype, shape, data_offsets}, "__metadata__":
/// {...}}`, then the raw little-endian data.
///
/// Writes are F32 and atomic (temporary file, fsync, rename). Reads accept F32, F16 and BF16 (upcast
/// to Float32) and check the whole header before touching data, so a corrupt or hostile file is a
/// thrown error, never a crash or an out-of-bounds read.
public enum SafeTensors {
    public static let maxHeaderBytes = 100_000_000

    /// Bytes per element of the dtypes this reader understands.
    static let dtypeSizes: [String: Int] = ["F32": 4, "F16": 2, "BF16": 2]
    /// Dtypes of the format that are valid but not loadable as Float32 here.
    static let otherDtypes: Set<String> = ["F64", "I64", "I32", "I16", "I8", "U8", "U16", "U32", "U64", "BOOL", "F8_E4M3", "F8_E5M2"]

    // MARK: Writing

    /// Serialises `tensors` (F32) and string `metadata` to safetensors bytes.
    public static func encode(_ tensors: [String: Tensor], metadata: [String: String] = [:]) throws -> Data {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        let names = tensors.keys.sorted()
        for name in names {
            let t = tensors[name]!
            let bytes = t.count * 4
            header[name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
            offset += bytes
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        var out = Data(capacity: 8 + json.count + offset)
        var n = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(json)
        for name in names {
            let c = tensors[name]!.contiguousData()
            withExtendedLifetime(c) {
                out.append(UnsafeBufferPointer(start: c.pointer, count: c.count))
            }
        }
        return out
    }

    /// Writes atomically: the previous file at `url`, if any, survives a crash mid-write.
    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], to url: URL) throws {
        let data = try encode(tensors, metadata: metadata)
        try atomicWrite(data, to: url)
    }

    /// Writes `data` to a temporary file beside `url`, flushes it to disk, then renames it over `url`.
    public static func atomicWrite(_ data: Data, to url: URL) throws {
        let dir = url.deletingLastPathComponent()
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        guard FileManager.default.createFile(atPath: tmp.path, contents: nil) else {
            throw SafeTensorsError(file: url.path, reason: "cannot create temporary file in \(dir.path)")
        }
        do {
            let handle = try FileHandle(forWritingTo: tmp)
            try handle.write(contentsOf: data)
            try handle.synchronize()
            try handle.close()
            guard rename(tmp.path, url.path) == 0 else {
                throw SafeTensorsError(file: url.path, reason: "rename failed: \(String(cString: strerror(errno)))")
            }
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            if let e = error as? SafeTensorsError { throw e }
            throw SafeTensorsError(file: url.path, reason: "write failed: \(error)")
        }
    }

    // MARK: Reading

    public struct Contents {
        public var tensors: [String: Tensor]
        public var metadata: [String: String]
        /// Original dtype of each tensor ("F32", "F16" or "BF16").
        public var dtypes: [String: String]
    }

    public static func read(_ url: URL) throws -> Contents {
        let data: Data
        do { data = try Data(contentsOf: url, options: .mappedIfSafe) } catch {
            throw SafeTensorsError(file: url.path, reason: "cannot read: \(error.localizedDescription)")
        }
        return try decode(data, source: url.path)
    }

    /// Parses safetensors bytes; `source` names the origin in errors.
    public static func decode(_ data: Data, source: String = "<memory>") throws -> Contents {
        func fail(_ reason: String) -> SafeTensorsError { SafeTensorsError(file: source, reason: reason) }
        guard data.count >= 8 else { throw fail("file is \(data.count) bytes, shorter than the 8-byte header length") }
        let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(maxHeaderBytes) else { throw fail("header length \(headerLength) exceeds the 100 MB limit") }
        guard headerLength <= UInt64(data.count - 8) else {
            throw fail("header length \(headerLength) runs past the end of the \(data.count)-byte file")
        }
        let headerEnd = 8 + Int(headerLength)
        let headerBytes = data.subdata(in: (data.startIndex + 8)..<(data.startIndex + headerEnd))
        guard let object = try? JSONSerialization.jsonObject(with: headerBytes), let header = object as? [String: Any] else {
            throw fail("header is not a JSON object")
        }
        let dataLength = data.count - headerEnd

        var metadata: [String: String] = [:]
        struct Entry { let name: String; let dtype: String; let shape: [Int]; let begin: Int; let end: Int }
        var entries: [Entry] = []
        for (name, value) in header {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw fail("__metadata__ is not an object") }
                for (k, v) in m {
                    guard let s = v as? String else { throw fail("__metadata__ value for '\(k)' is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard let info = value as? [String: Any] else { throw fail("entry '\(name)' is not an object") }
            guard let dtype = info["dtype"] as? String else { throw fail("tensor '\(name)' has no dtype") }
            guard let shapeAny = info["shape"] as? [Any], let offsetsAny = info["data_offsets"] as? [Any] else {
                throw fail("tensor '\(name)' lacks shape or data_offsets")
            }
            let shape = try shapeAny.map { v -> Int in
                guard let n = v as? NSNumber, let i = Int(exactly: n.doubleValue), i >= 0 else {
                    throw fail("tensor '\(name)' has an invalid shape \(shapeAny)")
                }
                return i
            }
            let offsets = try offsetsAny.map { v -> Int in
                guard let n = v as? NSNumber, let i = Int(exactly: n.doubleValue), i >= 0 else {
                    throw fail("tensor '\(name)' has invalid data_offsets \(offsetsAny)")
                }
                return i
            }
            guard offsets.count == 2 else { throw fail("tensor '\(name)' has \(offsets.count) data_offsets, not 2") }
            guard let size = dtypeSizes[dtype] else {
                if otherDtypes.contains(dtype) { throw fail("tensor '\(name)' has dtype \(dtype), which this reader does not load (F32, F16, BF16 only)") }
                throw fail("tensor '\(name)' has unknown dtype '\(dtype)'")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin <= end else { throw fail("tensor '\(name)' has reversed data_offsets [\(begin), \(end)]") }
            guard end <= dataLength else {
                throw fail("tensor '\(name)' data_offsets [\(begin), \(end)] run past the \(dataLength)-byte data section")
            }
            var elements = 1
            for d in shape {
                let (p, overflow) = elements.multipliedReportingOverflow(by: d)
                guard !overflow else { throw fail("tensor '\(name)' shape \(shape) overflows") }
                elements = p
            }
            let (bytes, overflow) = elements.multipliedReportingOverflow(by: size)
            guard !overflow && bytes == end - begin else {
                throw fail("tensor '\(name)' has \(end - begin) bytes but \(dtype) x \(shape) needs \(elements * size)")
            }
            entries.append(Entry(name: name, dtype: dtype, shape: shape, begin: begin, end: end))
        }
        // Tensors must tile the data section: no overlaps, no gaps.
        var cursor = 0
        for e in entries.sorted(by: { ($0.begin, $0.end) < ($1.begin, $1.end) }) {
            if e.begin < cursor { throw fail("tensor '\(e.name)' overlaps the previous tensor's data (offset \(e.begin) < \(cursor))") }
            if e.begin > cursor { throw fail("gap in the data section before tensor '\(e.name)' (offset \(e.begin), expected \(cursor))") }
            cursor = e.end
        }
        if cursor != dataLength { throw fail("data section has \(dataLength - cursor) trailing bytes not covered by any tensor") }

        var tensors: [String: Tensor] = [:]
        var dtypes: [String: String] = [:]
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let base = raw.baseAddress! + headerEnd
            for e in entries {
                let t = Tensor.zeros(e.shape)
                let n = t.count, p = t.pointer
                let src = base + e.begin
                switch e.dtype {
                case "F32":
                    for i in 0..<n { p[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
                case "F16":
                    for i in 0..<n {
                        p[i] = Float(Float16(bitPattern: UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))))
                    }
                default: // BF16: the top half of a Float32.
                    for i in 0..<n {
                        p[i] = Float(bitPattern: UInt32(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16)
                    }
                }
                tensors[e.name] = t
                dtypes[e.name] = e.dtype
            }
        }
        return Contents(tensors: tensors, metadata: metadata, dtypes: dtypes)
    }
}

extension Module {
    /// Saves every parameter under its dotted name, atomically, with optional string metadata.
    public func save(to url: URL, metadata: [String: String] = [:]) throws {
        try SafeTensors.write(Dictionary(uniqueKeysWithValues: namedParameters().map { ($0.name, $0.tensor) }),
                              metadata: metadata, to: url)
    }

    /// Loads parameters saved by `save(to:)`: every parameter must be present with its shape.
    /// Returns the file's metadata.
    @discardableResult
    public func load(from url: URL) throws -> [String: String] {
        let contents = try SafeTensors.read(url)
        try load(contents.tensors, source: url.path)
        return contents.metadata
    }

    /// Assigns parameters from named tensors; a missing name or a shape mismatch is a thrown error.
    public func load(_ tensors: [String: Tensor], source: String) throws {
        for (name, p) in namedParameters() {
            guard let t = tensors[name] else { throw SafeTensorsError(file: source, reason: "missing parameter '\(name)'") }
            guard t.shape == p.shape else {
                throw SafeTensorsError(file: source, reason: "parameter '\(name)' has shape \(t.shape), the model expects \(p.shape)")
            }
            withNoGrad { p.assign(t) }
        }
    }
}
