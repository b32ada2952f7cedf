import Foundation
import XCTest
@testable import LanguageModels

/// The hand-written GPT-2 / Llama-3 / Qwen2 split matchers against ICU running the same regexes.
final class SplitPatternTests: XCTestCase {
    static let texts: [String] = {
        var t = (try? TokenizerFixtures.expected().texts) ?? []
        t += ["a'S b'LL c'Ve 'd' '", "x  \n\n  y \t\r\n z", "123456789 1.5e10", "  !!  ??\n\n", "\u{2028}\u{2029}\u{85}a \u{0B}\u{0C}b", " \n", "'"]
        return t
    }()

    func testKnownPatternsAgreeWithICU() throws {
        for known in [KnownSplitPattern.gpt2, .llama3, .qwen2] {
            let regex: String
            switch known {
            case .gpt2: regex = KnownSplitPattern.gpt2Regex
            case .llama3: regex = KnownSplitPattern.llama3Regex
            case .qwen2: regex = KnownSplitPattern.qwen2Regex
            }
            let icu = SplitPattern.icu(try NSRegularExpression(pattern: regex))
            for text in Self.texts {
                let bytes = Array(text.utf8)
                let a = SplitPattern.known(known).findMatches(bytes).map { "\($0.range)\($0.isMatch)" }
                let b = icu.findMatches(bytes).map { "\($0.range)\($0.isMatch)" }
                XCTAssertEqual(a, b, "\(known) \(text.debugDescription)")
            }
        }
    }

    func testPatternsAreRecognisedOnlyVerbatim() {
        XCTAssertNotNil(KnownSplitPattern(regex: KnownSplitPattern.llama3Regex))
        XCTAssertNil(KnownSplitPattern(regex: KnownSplitPattern.llama3Regex + "|x"))
    }

    /// An unrecognised regex goes through ICU; on these texts it must tokenize as the hand-written matcher does.
    func testAnUnknownRegexRunsThroughICU() throws {
        let wrapped = "(?:" + KnownSplitPattern.llama3Regex + ")"
        let dir = try TokenizerFixtures.edited("llama3") { json in
            var pre = json["pre_tokenizer"] as! [String: Any]
            var list = pre["pretokenizers"] as! [[String: Any]]
            list[0]["pattern"] = ["Regex": wrapped]
            pre["pretokenizers"] = list
            json["pre_tokenizer"] = pre
        }
        defer { try? FileManager.default.removeItem(at: dir) }
        let viaICU = try PretrainedTokenizer(directory: dir)
        guard case .sequence(let list) = viaICU.preTokenizer, case .split(.icu, _, _) = list[0] else { return XCTFail("not the ICU path") }
        let reference = try TokenizerFixtures.load("llama3")
        for text in Self.texts {
            XCTAssertEqual(viaICU.encode(text, addSpecialTokens: false), reference.encode(text, addSpecialTokens: false), text.debugDescription)
        }
    }

    func testSplitBehaviours() {
        let m: [(range: Range<Int>, isMatch: Bool)] = [(0..<1, false), (1..<2, true), (2..<3, true), (3..<5, false), (5..<6, true)]
        XCTAssertEqual(SplitBehavior.isolated.apply(m), [0..<1, 1..<2, 2..<3, 3..<5, 5..<6])
        XCTAssertEqual(SplitBehavior.removed.apply(m), [0..<1, 3..<5])
        XCTAssertEqual(SplitBehavior.mergedWithPrevious.apply(m), [0..<2, 2..<3, 3..<6])
        XCTAssertEqual(SplitBehavior.mergedWithNext.apply(m), [0..<1, 1..<2, 2..<5, 5..<6])
        XCTAssertEqual(SplitBehavior.contiguous.apply(m), [0..<1, 1..<3, 3..<5, 5..<6])
    }
}
