import Foundation

/// Minimal SVG charts (line and grouped-bar) for reports: axes, ticks, legend, no dependencies.
public struct LineChart {
    public struct Series {
        public var name: String
        public var points: [(x: Double, y: Double)]
        public var dashed = false
        public init(name: String, points: [(x: Double, y: Double)], dashed: Bool = false) {
            self.name = name
            self.points = points
            self.dashed = dashed
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]
    public var width = 640.0, height = 400.0

    public init(title: String, xLabel: String, yLabel: String, series: [Series]) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
    }

    public func svg() -> String {
        let all = series.flatMap(\.points)
        let (x0, x1) = Chart.range(all.map(\.x)), (y0, y1) = Chart.range(all.map(\.y) + [0])
        var frame = Chart.Frame(width: width, height: height, x: (x0, x1), y: (y0, y1))
        frame.fitLegend(series.map(\.name))
        frame.fitTitle(title)
        frame.xLabel = xLabel
        frame.yLabel = yLabel
        var body = frame.axes()
        for (i, s) in series.enumerated() {
            let path = s.points.map { "\(Chart.f(frame.px($0.x))),\(Chart.f(frame.py($0.y)))" }.joined(separator: " ")
            body += "<polyline fill=\"none\" stroke=\"\(Chart.color(i))\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"6 4\"" : "") points=\"\(path)\"/>\n"
        }
        body += frame.legend(series.map(\.name))
        return frame.wrap(body)
    }
}

/// Grouped bars with optional error bars (one group per category, one bar per series).
public struct BarChart {
    public var title: String
    public var yLabel: String
    public var categories: [String]
    public var series: [(name: String, values: [Double], errors: [Double]?)]
    public var width = 720.0, height = 420.0

    public init(title: String, yLabel: String, categories: [String], series: [(name: String, values: [Double], errors: [Double]?)]) {
        self.title = title
        self.yLabel = yLabel
        self.categories = categories
        self.series = series
    }

    public func svg() -> String {
        let tops = series.flatMap { s in s.values.enumerated().map { $0.element + (s.errors?[$0.offset] ?? 0) } }
        var frame = Chart.Frame(width: width, height: height, x: (0, Double(categories.count)), y: (0, Chart.range(tops + [0]).1))
        frame.fitLegend(series.map(\.name))
        frame.fitTitle(title)
        frame.yLabel = yLabel
        frame.xTicks = false
        var body = frame.axes()
        let groupWidth = (frame.px(1) - frame.px(0)) * 0.8
        let barWidth = groupWidth / Double(max(series.count, 1))
        for (c, name) in categories.enumerated() {
            let left = frame.px(Double(c)) + (frame.px(1) - frame.px(0)) * 0.1
            body += "<text x=\"\(Chart.f(left + groupWidth / 2))\" y=\"\(Chart.f(frame.bottom + 18))\" text-anchor=\"middle\" font-size=\"11\">\(Chart.escape(name))</text>\n"
            for (i, s) in series.enumerated() where c < s.values.count {
                let v = s.values[c], x = left + Double(i) * barWidth
                body += "<rect x=\"\(Chart.f(x))\" y=\"\(Chart.f(frame.py(v)))\" width=\"\(Chart.f(barWidth * 0.9))\" height=\"\(Chart.f(frame.py(0) - frame.py(v)))\" fill=\"\(Chart.color(i))\"/>\n"
                if let e = s.errors?[c], e > 0 {
                    let cx = x + barWidth * 0.45
                    body += "<line x1=\"\(Chart.f(cx))\" x2=\"\(Chart.f(cx))\" y1=\"\(Chart.f(frame.py(v - e)))\" y2=\"\(Chart.f(frame.py(v + e)))\" stroke=\"black\"/>\n"
                }
            }
        }
        body += frame.legend(series.map(\.name))
        return frame.wrap(body)
    }
}

/// A diverging heat map (blue negative, red positive) with the value in each cell, one panel per family.
public struct HeatMap {
    public var title: String
    public var rows: [String]
    public var columns: [String]
    public var panels: [(name: String, values: [[Double?]])]

    public init(title: String, rows: [String], columns: [String], panels: [(name: String, values: [[Double?]])]) {
        self.title = title
        self.rows = rows
        self.columns = columns
        self.panels = panels
    }

    public func svg() -> String {
        let cellW = 90.0, cellH = 34.0, left = 120.0, top = 72.0, gap = 40.0
        let panelW = cellW * Double(columns.count)
        let width = max(left + Double(panels.count) * (panelW + gap) + 20, Chart.textWidth(title, fontSize: 14) + 20)
        let height = top + cellH * Double(rows.count) + 60
        let scale = max(panels.flatMap { $0.values.flatMap { $0.compactMap { $0.map(abs) } } }.max() ?? 1, 1)
        var body = "<text x=\"\(Chart.f(width / 2))\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">\(Chart.escape(title))</text>\n"
        for (p, panel) in panels.enumerated() {
            let x0 = left + Double(p) * (panelW + gap)
            body += "<text x=\"\(Chart.f(x0 + panelW / 2))\" y=\"\(Chart.f(top - 22))\" text-anchor=\"middle\" font-size=\"13\">\(Chart.escape(panel.name))</text>\n"
            for (c, name) in columns.enumerated() {
                body += "<text x=\"\(Chart.f(x0 + (Double(c) + 0.5) * cellW))\" y=\"\(Chart.f(top - 6))\" text-anchor=\"middle\" font-size=\"10\">\(Chart.escape(name))</text>\n"
            }
            for (r, row) in panel.values.enumerated() {
                if p == 0 {
                    body += "<text x=\"\(Chart.f(left - 8))\" y=\"\(Chart.f(top + (Double(r) + 0.6) * cellH))\" text-anchor=\"end\" font-size=\"11\">\(Chart.escape(rows[r]))</text>\n"
                }
                for (c, value) in row.enumerated() {
                    let t = (value ?? 0) / scale
                    let color = t >= 0 ? "rgb(255,\(Int(255 * (1 - t))),\(Int(255 * (1 - t))))" : "rgb(\(Int(255 * (1 + t))),\(Int(255 * (1 + t))),255)"
                    let x = x0 + Double(c) * cellW, y = top + Double(r) * cellH
                    body += "<rect x=\"\(Chart.f(x))\" y=\"\(Chart.f(y))\" width=\"\(Chart.f(cellW - 2))\" height=\"\(Chart.f(cellH - 2))\" fill=\"\(value == nil ? "#eee" : color)\"/>"
                    body += "<text x=\"\(Chart.f(x + cellW / 2))\" y=\"\(Chart.f(y + cellH * 0.62))\" text-anchor=\"middle\" font-size=\"12\">\(value.map { String(format: "%+.1f", $0) } ?? "-")</text>\n"
                }
            }
        }
        return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Chart.f(width))\" height=\"\(Chart.f(height))\" font-family=\"sans-serif\">\n"
            + "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n" + body + "</svg>\n"
    }
}

enum Chart {
    static let palette = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C"]
    static func color(_ i: Int) -> String { palette[i % palette.count] }
    static func f(_ v: Double) -> String { String(format: "%.1f", v) }
    /// A generous estimate of a sans-serif line's width (0.6 em per character; most glyphs are narrower).
    static func textWidth(_ s: String, fontSize: Double) -> Double { 0.6 * fontSize * Double(s.count) }
    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    static func range(_ values: [Double]) -> (Double, Double) {
        let finite = values.filter(\.isFinite)
        guard let lo = finite.min(), let hi = finite.max() else { return (0, 1) }
        return lo == hi ? (lo - 1, hi + 1) : (lo, hi + (hi - lo) * 0.05)
    }

    /// "Nice" tick values covering [lo, hi].
    static func ticks(_ lo: Double, _ hi: Double, count: Int = 5) -> [Double] {
        let raw = (hi - lo) / Double(count)
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        var out: [Double] = []
        var v = ceil(lo / step) * step
        while v <= hi + step * 1e-9 {
            out.append(abs(v) < step * 1e-9 ? 0 : v)  // no "-0" label from rounding
            v += step
        }
        return out
    }

    struct Frame {
        var width: Double, height: Double
        var x: (Double, Double), y: (Double, Double)
        var title = "", xLabel = "", yLabel = ""
        var xTicks = true
        let left = 70.0, top = 40.0, bottomMargin = 50.0
        /// Room for the legend on the right, sized to its longest label.
        var right = 160.0
        var bottom: Double { height - bottomMargin }

        init(width: Double, height: Double, x: (Double, Double), y: (Double, Double)) {
            self.width = width
            self.height = height
            self.x = x
            self.y = y
        }

        /// Sets the title and widens the canvas (the plot grows with it) until the title, centred on
        /// the canvas, fits inside it.
        mutating func fitTitle(_ text: String) {
            title = text
            let needed = Chart.textWidth(text, fontSize: 15) + 20
            if needed > width { width = needed }
        }

        /// Widens the canvas so the legend's longest label fits beside the plot.
        mutating func fitLegend(_ names: [String]) {
            let needed = 40 + 6.5 * Double(names.map(\.count).max() ?? 0)
            if needed > right {
                width += needed - right
                right = needed
            }
        }

        func px(_ v: Double) -> Double { left + (v - x.0) / (x.1 - x.0) * (width - left - right) }
        func py(_ v: Double) -> Double { bottom - (v - y.0) / (y.1 - y.0) * (bottom - top) }

        func axes() -> String {
            var s = "<line x1=\"\(f(left))\" y1=\"\(f(bottom))\" x2=\"\(f(width - right))\" y2=\"\(f(bottom))\" stroke=\"black\"/>\n"
            s += "<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(bottom))\" stroke=\"black\"/>\n"
            for t in ticks(y.0, y.1) {
                s += "<line x1=\"\(f(left - 4))\" x2=\"\(f(width - right))\" y1=\"\(f(py(t)))\" y2=\"\(f(py(t)))\" stroke=\"#ddd\"/>\n"
                s += "<text x=\"\(f(left - 8))\" y=\"\(f(py(t) + 4))\" text-anchor=\"end\" font-size=\"11\">\(String(format: "%g", t))</text>\n"
            }
            if xTicks {
                for t in ticks(x.0, x.1) {
                    s += "<text x=\"\(f(px(t)))\" y=\"\(f(bottom + 16))\" text-anchor=\"middle\" font-size=\"11\">\(String(format: "%g", t))</text>\n"
                }
            }
            s += "<text x=\"\(f(width / 2))\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">\(escape(title))</text>\n"
            s += "<text x=\"\(f((left + width - right) / 2))\" y=\"\(f(height - 12))\" text-anchor=\"middle\" font-size=\"12\">\(escape(xLabel))</text>\n"
            s += "<text transform=\"translate(18 \(f((top + bottom) / 2))) rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">\(escape(yLabel))</text>\n"
            return s
        }

        func legend(_ names: [String]) -> String {
            names.enumerated().map { i, name in
                let yy = top + 10 + Double(i) * 20
                return "<rect x=\"\(f(width - right + 12))\" y=\"\(f(yy - 9))\" width=\"12\" height=\"12\" fill=\"\(color(i))\"/>"
                    + "<text x=\"\(f(width - right + 30))\" y=\"\(f(yy + 2))\" font-size=\"12\">\(escape(name))</text>\n"
            }.joined()
        }

        func wrap(_ body: String) -> String {
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(f(width))\" height=\"\(f(height))\" font-family=\"sans-serif\">\n"
                + "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n" + body + "</svg>\n"
        }
    }
}
