import Foundation
@testable import NN  // systemReason is package-internal
import TestSupport
import XCTest

/// A failed write reports the operating system's reason, not a dump of Foundation's error object.
final class FileErrorTests: XCTestCase {
    func testSystemReasonNamesThePOSIXError() {
        let full = NSError(domain: NSPOSIXErrorDomain, code: Int(ENOSPC))
        XCTAssertEqual(SafeTensors.systemReason(full), "No space left on device")
        let wrapped = NSError(domain: NSCocoaErrorDomain, code: 640, userInfo: [NSUnderlyingErrorKey: full])
        XCTAssertEqual(SafeTensors.systemReason(wrapped), "No space left on device")
    }

    func testWriteIntoAMissingDirectoryNamesTheFile() {
        let url = URL(fileURLWithPath: "/nonexistent-\(UUID().uuidString)/model.safetensors")
        XCTAssertThrowsError(try SafeTensors.write(["w": Tensor([1, 2])], to: url)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains(url.path), text)
            XCTAssertFalse(text.contains("Error Domain"), text)
        }
    }
}
