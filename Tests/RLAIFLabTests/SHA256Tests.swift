import Foundation
import XCTest
@testable import RLAIFLab

/// FIPS 180-4 test vectors (as `sha256sum` prints them), chunked updates and files.
final class SHA256Tests: XCTestCase {
    func testStandardVectors() {
        XCTAssertEqual(SHA256.hex(Data()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Data("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(SHA256.hex(Data(repeating: UInt8(ascii: "a"), count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Any split into updates gives the one-shot digest (the partial-block buffer path).
    func testChunkedUpdatesAndFiles() throws {
        let bytes = Data((0..<1_000).map { UInt8($0 % 251) })
        let expected = "4e4c294b331f7a2099a379bec34b9f9fc03dc46ab465d998f4d683da53487e6d"  // hashlib.sha256
        XCTAssertEqual(SHA256.hex(bytes), expected)
        for sizes in [[1, 63, 1, 64, 871], [100, 0, 900], [55, 9, 936], [999, 1]] {
            var h = SHA256(), start = 0
            for n in sizes { h.update(bytes.subdata(in: start..<(start + n))); start += n }
            XCTAssertEqual(h.finalize().map { String(format: "%02x", $0) }.joined(), expected, "\(sizes)")
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sha-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        try bytes.write(to: file)
        XCTAssertEqual(try SHA256.hex(fileAt: file), expected)
    }
}
