import Foundation

/// One bad invocation and what its error must name.
struct HostileCase {
    let executable: String
    let arguments: [String]
    /// Text the error on stderr must contain: the option (or file) at fault.
    let names: String

    init(_ executable: String, _ arguments: [String], names: String) {
        self.executable = executable
        self.arguments = arguments
        self.names = names
    }

    var label: String { "\(executable) \(arguments.joined(separator: " "))" }

    /// The arguments with $DIR, $OUT, $BASE, $RM and $SHORT filled in.
    func resolved(_ fixtures: Fixtures, output: String) -> [String] {
        arguments.map {
            $0.replacingOccurrences(of: "$OUT", with: output)
                .replacingOccurrences(of: "$BASE", with: fixtures.base)
                .replacingOccurrences(of: "$RM", with: fixtures.rewardModel)
                .replacingOccurrences(of: "$SHORT", with: fixtures.shortModel)
                .replacingOccurrences(of: "$DIR", with: fixtures.directory.path)
        }
    }
}
