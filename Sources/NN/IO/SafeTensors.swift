import TensorCore
import Foundation

/// A safetensors file that cannot be read, or a write that failed; names the file, the tensor when
/// one tensor is at fault, and the problem.
public struct SafeTensorsError: Error, CustomStringConvertible, Equatable, Sendable {
    public let file: String
    public let tensor: String?
    public let reason: String

    public init(file: String, tensor: String? = nil, reason: String) {
        self.file = file
        self.tensor = tensor
        self.reason = reason
    }

    public var description: String { tensor.map { "\(file): tensor '\($0)' \(reason)" } ?? "\(file): \(reason)" }
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
            throw SafeTensorsError(file: url.path, reason: "write failed: \(systemReason(error))")
        }
    }

    /// The operating system's words for a failed file operation ("No space left on device"), not
    /// Foundation's error dump.
    package static func systemReason(_ error: Error) -> String {
        let ns = error as NSError
        for candidate in [ns, ns.userInfo[NSUnderlyingErrorKey] as? NSError].compactMap({ $0 }) where candidate.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(candidate.code)))
        }
        return ns.localizedDescription
    }

    // MARK: Reading

    public struct Contents {
        public var tensors: [String: Tensor]
        public var metadata: [String: String]
        /// Original dtype of each tensor ("F32", "F16" or "BF16").
        public var dtypes: [String: String]
    }

    /// Where one tensor is in a file, as its header declares it.
    public struct TensorInfo: Equatable, Sendable {
        public let dtype: String
        public let shape: [Int]
        /// Byte range in the data section.
        public let begin: Int
        public let end: Int
    }

    /// A checked header: every entry's dtype is readable, its shape matches its byte range without
    /// overflow, and the byte ranges tile the data section.
    public struct Header: Sendable {
        public var tensors: [String: TensorInfo]
        public var metadata: [String: String]
        /// Offset of the data section in the file.
        let dataStart: Int
    }

    /// Reads a file. `checkHeader` sees the checked header before any tensor is allocated, so a caller
    /// can refuse names or shapes it does not expect without paying for (or overflowing on) the data.
    public static func read(_ url: URL, checkHeader: (Header) throws -> Void = { _ in }) throws -> Contents {
        let data: Data
        do { data = try Data(contentsOf: url, options: .mappedIfSafe) } catch {
            throw SafeTensorsError(file: url.path, reason: "cannot read: \(SafeTensors.systemReason(error))")
        }
        return try decode(data, source: url.path, checkHeader: checkHeader)
    }

    /// Parses safetensors bytes; `source` names the origin in errors.
    public static func decode(_ data: Data, source: String = "<memory>", checkHeader: (Header) throws -> Void = { _ in }) throws -> Contents {
        let header = try decodeHeader(data, source: source)
        try checkHeader(header)
        return materialize(data, header)
    }

    /// Parses and checks the header only.
    public static func decodeHeader(_ data: Data, source: String = "<memory>") throws -> Header {
        func fail(_ reason: String) -> SafeTensorsError { SafeTensorsError(file: source, reason: reason) }
        func fail(_ name: String, _ reason: String) -> SafeTensorsError { SafeTensorsError(file: source, tensor: name, reason: reason) }
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
        var tensors: [String: TensorInfo] = [:]
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
            guard let dtype = info["dtype"] as? String else { throw fail(name, "has no dtype") }
            guard let shapeAny = info["shape"] as? [Any], let offsetsAny = info["data_offsets"] as? [Any] else {
                throw fail(name, "lacks shape or data_offsets")
            }
            guard let shape = nonNegativeIntegers(shapeAny) else { throw fail(name, "has an invalid shape \(shapeAny)") }
            guard let offsets = nonNegativeIntegers(offsetsAny) else { throw fail(name, "has invalid data_offsets \(offsetsAny)") }
            guard offsets.count == 2 else { throw fail(name, "has \(offsets.count) data_offsets, not 2") }
            guard let size = dtypeSizes[dtype] else {
                if otherDtypes.contains(dtype) { throw fail(name, "has dtype \(dtype), which this reader does not load (F32, F16, BF16 only)") }
                throw fail(name, "has unknown dtype '\(dtype)'")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin <= end else { throw fail(name, "has reversed data_offsets [\(begin), \(end)]") }
            guard end <= dataLength else {
                throw fail(name, "data_offsets [\(begin), \(end)] run past the \(dataLength)-byte data section")
            }
            // Strides multiply the non-zero dimensions, so those must not overflow even when the count is 0.
            guard let elements = Shape.checkedCount(shape) else { throw fail(name, "shape \(shape) overflows") }
            let (bytes, overflow) = elements.multipliedReportingOverflow(by: size)
            guard !overflow else { throw fail(name, "shape \(shape) overflows as \(dtype) bytes") }
            guard bytes == end - begin else {
                throw fail(name, "has \(end - begin) bytes but \(dtype) x \(shape) needs \(bytes)")
            }
            tensors[name] = TensorInfo(dtype: dtype, shape: shape, begin: begin, end: end)
        }
        // Tensors must tile the data section: no overlaps, no gaps.
        var cursor = 0
        for (name, e) in tensors.sorted(by: { ($0.value.begin, $0.value.end, $0.key) < ($1.value.begin, $1.value.end, $1.key) }) {
            if e.begin < cursor { throw fail(name, "overlaps the previous tensor's data (offset \(e.begin) < \(cursor))") }
            if e.begin > cursor { throw fail("gap in the data section before tensor '\(name)' (offset \(e.begin), expected \(cursor))") }
            cursor = e.end
        }
        if cursor != dataLength { throw fail("data section has \(dataLength - cursor) trailing bytes not covered by any tensor") }
        return Header(tensors: tensors, metadata: metadata, dataStart: headerEnd)
    }

    /// JSON numbers that are integers >= 0 (not booleans, not 1.5); nil if any is not.
    static func nonNegativeIntegers(_ values: [Any]) -> [Int]? {
        var out: [Int] = []
        out.reserveCapacity(values.count)
        for v in values {
            guard let i = JSONValue.integer(v), i >= 0 else { return nil }
            out.append(i)
        }
        return out
    }

    /// Copies each tensor of a checked header out of `data`, upcasting to Float32.
    static func materialize(_ data: Data, _ header: Header) -> Contents {
        var tensors: [String: Tensor] = [:]
        var dtypes: [String: String] = [:]
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let base = raw.baseAddress! + header.dataStart
            for (name, e) in header.tensors {
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
                tensors[name] = t
                dtypes[name] = e.dtype
            }
        }
        return Contents(tensors: tensors, metadata: header.metadata, dtypes: dtypes)
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
