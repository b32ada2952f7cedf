import Foundation
import RLAIFLab
import XCTest

/// Chart titles stay inside the canvas: Figure 2's 84-character title was centred on the plot
/// area and ran past the left edge.
final class SVGChartTests: XCTestCase {
    let long = "Figure 2: SFT on the weak teacher (100%, 10%), 10% + RLAIF, SFT on the strong teacher"

    func number(_ attribute: String, in svg: String, after marker: String = "<svg") -> Double? {
        guard let start = svg.range(of: marker) else { return nil }
        let rest = svg[start.upperBound...]
        guard let a = rest.range(of: "\(attribute)=\"") else { return nil }
        return Double(rest[a.upperBound...].prefix { $0 != "\"" })
    }

    func assertTitleInside(_ svg: String, fontSize: Double, file: StaticString = #filePath, line: UInt = #line) {
        let width = number("width", in: svg)!
        let title = svg.components(separatedBy: "\n").first { $0.contains(long) }!
        let x = number("x", in: title, after: "<text")!
        let half = 0.6 * fontSize * Double(long.count) / 2  // the charts' own generous estimate
        XCTAssertGreaterThanOrEqual(x - half, 0, "title starts left of the canvas", file: file, line: line)
        XCTAssertLessThanOrEqual(x + half, width, "title ends right of the canvas", file: file, line: line)
    }

    func testLongTitlesFitEveryChart() {
        let bars = BarChart(title: long, yLabel: "win rate", categories: ["base-A", "base-B"],
                            series: [(name: "SFT weak 10%", values: [40, 41], errors: [2, 2])]).svg()
        assertTitleInside(bars, fontSize: 15)
        let lines = LineChart(title: long, xLabel: "x", yLabel: "y", series: [.init(name: "a", points: [(0, 1), (1, 2)])]).svg()
        assertTitleInside(lines, fontSize: 15)
        let heat = HeatMap(title: long, rows: ["weak"], columns: ["small"], panels: [(name: "base-A", values: [[1.5]])]).svg()
        assertTitleInside(heat, fontSize: 14)
    }
}
