import Foundation
import TestSupport
import XCTest
import NN

final class SafeTensorsTests: XCTestCase {
    /// Builds a file from a header object and a data section, as a hostile writer could.
    func file(header: String, data: [UInt8] = [], lengthOverride: UInt64? = nil) -> Data {
        var bytes = Data()
        let h = Data(header.utf8)
        var n = (lengthOverride ?? UInt64(h.count)).littleEndian
        withUnsafeBytes(of: &n) { bytes.append(contentsOf: $0) }
        bytes.append(h)
        bytes.append(contentsOf: data)
        return bytes
    }

    func assertRejects(_ data: Data, mentioning phrase: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try SafeTensors.decode(data, source: "bad.safetensors"), file: file, line: line) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("bad.safetensors") && text.contains(phrase), "message was: \(text)", file: file, line: line)
        }
    }

    func testRoundTripWithMetadata() throws {
        let a = Tensor([1, -2, 3.5, 4, 5, 6], shape: [2, 3])
        let b = Tensor(scalar: 7)
        let data = try SafeTensors.encode(["a": a.transposed(), "b": b], metadata: ["step": "3", "config": "{}"])
        XCTAssertEqual((data.count - 8) % 4, 0)
        let back = try SafeTensors.decode(data)
        XCTAssertEqual(back.tensors["a"]?.shape, [3, 2])
        XCTAssertEqual(back.tensors["a"]?.scalars, [1, 4, -2, 5, 3.5, 6])
        XCTAssertEqual(back.tensors["b"]?.shape, [])
        XCTAssertEqual(back.tensors["b"]?.item, 7)
        XCTAssertEqual(back.metadata, ["step": "3", "config": "{}"])
    }

    func testReadsF16AndBF16() throws {
        // 1.0 and -2.0 in F16 (0x3C00, 0xC000) and BF16 (0x3F80, 0xC000), little-endian.
        let f16 = file(header: #"{"x":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#, data: [0x00, 0x3C, 0x00, 0xC0])
        XCTAssertEqual(try SafeTensors.decode(f16).tensors["x"]?.scalars, [1, -2])
        let bf16 = file(header: #"{"x":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}"#, data: [0x80, 0x3F, 0x00, 0xC0])
        let c = try SafeTensors.decode(bf16)
        XCTAssertEqual(c.tensors["x"]?.scalars, [1, -2])
        XCTAssertEqual(c.dtypes["x"], "BF16")
    }

    func testRejectsEachClassOfBadFile() {
        assertRejects(Data([1, 2, 3]), mentioning: "shorter than the 8-byte header length")
        assertRejects(file(header: "{}", lengthOverride: 1_000), mentioning: "runs past the end")
        assertRejects(file(header: "{}", lengthOverride: 200_000_000), mentioning: "100 MB")
        assertRejects(file(header: "not json"), mentioning: "not a JSON object")
        assertRejects(file(header: "[1,2]"), mentioning: "not a JSON object")
        assertRejects(file(header: #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,80]}}"#, data: [UInt8](repeating: 0, count: 8)),
                      mentioning: "run past")
        assertRejects(file(header: #"{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#, data: [UInt8](repeating: 0, count: 4)),
                      mentioning: "reversed")
        assertRejects(file(header: #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                           data: [UInt8](repeating: 0, count: 8)), mentioning: "overlaps")
        assertRejects(file(header: #"{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8)),
                      mentioning: "needs 12")
        assertRejects(file(header: #"{"x":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8)),
                      mentioning: "unknown dtype")
        assertRejects(file(header: #"{"x":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8)),
                      mentioning: "does not load")
        assertRejects(file(header: #"{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: [UInt8](repeating: 0, count: 8)),
                      mentioning: "gap")
        assertRejects(file(header: #"{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: [UInt8](repeating: 0, count: 4)),
                      mentioning: "invalid shape")
        assertRejects(file(header: #"{"x":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}}"#,
                           data: [UInt8](repeating: 0, count: 4)), mentioning: "overflows")
        assertRejects(file(header: #"{"__metadata__":{"a":1}}"#), mentioning: "not a string")
    }

    func testAtomicWriteKeepsPreviousFileWhenTheWriteFails() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("st-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("model.safetensors")
        try SafeTensors.write(["w": Tensor([1, 2, 3])], to: url)
        // A target that cannot be replaced (a non-empty directory in its place) fails the rename;
        // the earlier file elsewhere and the directory stay intact, and no temporary file is left.
        let blocked = dir.appendingPathComponent("blocked.safetensors")
        try FileManager.default.createDirectory(at: blocked.appendingPathComponent("x"), withIntermediateDirectories: true)
        XCTAssertThrowsError(try SafeTensors.write(["w": Tensor([4])], to: blocked))
        XCTAssertEqual(try SafeTensors.read(url).tensors["w"]?.scalars, [1, 2, 3])
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".tmp-") }
        XCTAssertEqual(leftovers, [])
        try SafeTensors.write(["w": Tensor([5, 6])], to: url)
        XCTAssertEqual(try SafeTensors.read(url).tensors["w"]?.scalars, [5, 6])
    }

    func testMissingFileNamesThePath() {
        XCTAssertThrowsError(try SafeTensors.read(URL(fileURLWithPath: "/nonexistent/m.safetensors"))) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent/m.safetensors"))
        }
    }
}
