import Foundation
import Alignment
import LanguageModels

/// The synthetic world: instruction tasks with verifiable answers, written in a small language.
/// Format as in the paper: "Human: {instruction}\n\nAssistant: " + response + EOS.
public enum TaskKind: String, Codable, CaseIterable, Sendable {
    case reverse, sort, add, count, twice
}

public struct Instruction: Codable, Equatable, Sendable {
    public var kind: TaskKind
    /// The argument: letters for reverse/sort/twice, "a+b" for add, "x:letters" for count.
    public var argument: String

    public init(kind: TaskKind, argument: String) {
        self.kind = kind
        self.argument = argument
    }

    public var instruction: String {
        switch kind {
        case .count:
            let parts = argument.split(separator: ":", maxSplits: 1).map(String.init)
            return "count \(parts[0]) in \(parts[1])"
        default: return "\(kind.rawValue) \(argument)"
        }
    }

    public var prompt: String { "Human: \(instruction)\n\nAssistant: " }

    /// The correct response.
    public var answer: String {
        switch kind {
        case .reverse: return String(argument.reversed())
        case .sort: return String(argument.sorted())
        case .twice: return String(argument.flatMap { [$0, $0] })
        case .add:
            let n = argument.split(separator: "+").compactMap { Int($0) }
            return String(n.reduce(0, +))
        case .count:
            let parts = argument.split(separator: ":", maxSplits: 1).map(String.init)
            return String(parts[1].filter { String($0) == parts[0] }.count)
        }
    }

    /// The skill as a plain sentence of pretraining text, split where the answer starts. The wording
    /// differs from the instruction, so SFT still has to teach the model to answer one.
    public var sentence: (context: String, continuation: String) {
        switch kind {
        case .reverse: return ("\(argument) backwards is ", answer)
        case .sort: return ("\(argument) in order is ", answer)
        case .twice: return ("\(argument) with each letter doubled is ", answer)
        case .add: return ("\(argument) is ", answer)
        case .count:
            let parts = argument.split(separator: ":", maxSplits: 1).map(String.init)
            return ("the number of \(parts[0]) in \(parts[1]) is ", answer)
        }
    }

    /// Graded quality in [0, 1]: the share of positions where the response agrees with the answer,
    /// over the longer of the two (1 only for an exact match; partial credit otherwise).
    public func quality(_ response: String) -> Double {
        let a = Array(answer), r = Array(response)
        let matches = zip(a, r).filter { $0 == $1 }.count
        return Double(matches) / Double(max(a.count, r.count, 1))
    }
}

public enum World {
    public static let letters = Array("abcdef")
    /// Every character the language uses: the tokenizer's alphabet.
    public static let alphabet: [Character] = Array(Set("Human: Assistant\n" + "abcdefghijklmnopqrstuvwxyz0123456789+")).sorted()
    public static let tokenizer = CharTokenizer(alphabet: alphabet)

    static func word(_ length: Int, _ rng: inout RandomGenerator) -> String {
        String((0..<length).map { _ in letters[Int(rng.next() % UInt64(letters.count))] })
    }

    /// A random task; `difficulty` in 0...1 scales lengths and numbers.
    public static func task(_ rng: inout RandomGenerator) -> Instruction {
        let kind = TaskKind.allCases[Int(rng.next() % UInt64(TaskKind.allCases.count))]
        switch kind {
        case .reverse, .sort: return Instruction(kind: kind, argument: word(3 + Int(rng.next() % 3), &rng))
        case .twice: return Instruction(kind: kind, argument: word(2 + Int(rng.next() % 2), &rng))
        case .add: return Instruction(kind: kind, argument: "\(rng.next() % 10)+\(rng.next() % 10)")
        case .count:
            let target = letters[Int(rng.next() % 3)]
            return Instruction(kind: kind, argument: "\(target):\(word(3 + Int(rng.next() % 4), &rng))")
        }
    }

    /// The part of the task space a prompt belongs to, fixed by a hash of its instruction: about
    /// 10% test, 10% validation, the rest training. Some kinds have few distinct instances (100
    /// additions), so prompts drawn independently would repeat across sets; drawn from their own
    /// parts, no SFT or RLAIF prompt is ever an evaluation prompt, and no validation prompt a test one.
    public enum Split: String, Codable, Sendable { case training, validation, test }

    public static func split(of t: Instruction) -> Split {
        switch stableHash("split|" + t.instruction) % 10 {
        case 0: return .test
        case 1: return .validation
        default: return .training
        }
    }

    /// `n` random tasks; with `split`, only tasks of that part (drawn by rejection).
    public static func tasks(_ n: Int, seed: UInt64, split part: Split? = nil) -> [Instruction] {
        var rng = RandomGenerator(seed: seed)
        var out: [Instruction] = []
        out.reserveCapacity(n)
        while out.count < n {
            let t = task(&rng)
            if part == nil || split(of: t) == part { out.append(t) }
        }
        return out
    }

    /// FNV-1a over the UTF-8 bytes: stable across runs and platforms (Swift's `Hasher` is seeded
    /// per process).
    static func stableHash(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in s.utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return h
    }

    /// Instruction-free text of the same language for pretraining, as web text is for a real base
    /// model. Two kinds of document: a chat-format prompt followed by a random response (the
    /// format, no task), and, with probability `skillShare`, a plain sentence in which a skill
    /// occurs without being asked for ("abcde backwards is edcba", "7+5 is 12"). The sentences
    /// are always correct: the world's text knows what no teacher is asked to teach, so a base
    /// model's own samples can be better than a flawed teacher's, as a 7B model's can be. They
    /// cover the whole task space, evaluation instances included, as web text covers facts that
    /// benchmarks later ask about; only instruction-following is kept apart (see `Split`). Each
    /// document is a (context, continuation) pair and, as in SFT, only the continuation (the
    /// response, or the part of the sentence after "is") carries loss.
    public static func pretrainingText(_ n: Int, seed: UInt64, skillShare: Double = 0) -> [TokenizedPair] {
        var rng = RandomGenerator(seed: seed)
        let symbols = Array("abcdefgh0123456789")
        return (0..<n).map { _ in
            let t = task(&rng)
            if skillShare > 0 && Double(rng.nextUniform()) < skillShare {
                let (context, continuation) = t.sentence
                return TokenizedPair(prompt: tokenizer.encode(context), completion: tokenizer.encode(continuation) + [tokenizer.eosToken])
            }
            let length = 1 + Int(rng.next() % 8)
            let response = String((0..<length).map { _ in symbols[Int(rng.next() % UInt64(symbols.count))] })
            return TokenizedPair(prompt: tokenizer.encode(t.prompt), completion: tokenizer.encode(response) + [tokenizer.eosToken])
        }
    }
}

/// A teacher answers every task, but fails some kinds of instance *systematically* (a skill gap,
/// not noise that imitation would average away).
public struct Teacher: Codable, Equatable, Sendable {
    public enum Gap: String, Codable, Sendable {
        /// reverse of 5+ letters swaps the first two output letters
        case reverseLong
        /// sort of 5+ letters leaves the last two unsorted
        case sortLong
        /// addition ignores the carry (writes the sum mod 10)
        case addNoCarry
        /// counts of 3 or more are one too low
        case countHigh
        /// counts of 4 or more are one too high
        case countVeryHigh
        /// the last letter is written once
        case twiceLast
    }

    public var name: String
    public var gaps: Set<Gap>
    /// Share of the instances a gap covers on which the teacher actually fails. Which ones is fixed
    /// by a hash of the instruction, so the teacher always fails the same ones (systematic, not
    /// noise), but no feature a student could read off the prompt tells them apart.
    public var gapShare: Double

    public init(name: String, gaps: Set<Gap>, gapShare: Double = 1) {
        self.name = name
        self.gaps = gaps
        self.gapShare = gapShare
    }

    /// Whether the teacher has `gap` and fails `t` through it: true for the `gapShare` of prompts
    /// its hash picks. (Which instances a gap covers at all, long words or carries, `respond` checks.)
    func fails(_ gap: Gap, _ t: Instruction) -> Bool {
        guard gaps.contains(gap) else { return false }
        if gapShare >= 1 { return true }
        return Double(World.stableHash(t.instruction + "|" + gap.rawValue) >> 11) / Double(1 << 53) < gapShare
    }

    /// GPT-3.5's role: several systematic gaps.
    public static let weak = Teacher(name: "weak", gaps: [.reverseLong, .addNoCarry, .countHigh, .twiceLast], gapShare: 0.7)
    /// GPT-4's role: one narrow gap.
    public static let strong = Teacher(name: "strong", gaps: [.countVeryHigh])
    /// Claude's role: as strong as GPT-4's teacher, with a different gap.
    public static let claude = Teacher(name: "claude", gaps: [.sortLong])
    /// The middling teacher whose completions are the evaluation references (AlpacaEval's role).
    public static let reference = Teacher(name: "reference", gaps: [.sortLong, .addNoCarry, .twiceLast])

    public func respond(_ t: Instruction) -> String {
        var out = t.answer
        switch t.kind {
        case .reverse where t.argument.count >= 5 && fails(.reverseLong, t):
            var c = Array(out)
            c.swapAt(0, 1)
            out = String(c)
        case .sort where t.argument.count >= 5 && fails(.sortLong, t):
            var c = Array(out)
            c.swapAt(c.count - 1, c.count - 2)
            out = String(c)
        case .add:
            let n = t.argument.split(separator: "+").compactMap { Int($0) }
            if fails(.addNoCarry, t) { out = String((n[0] + n[1]) % 10) }
        case .count:
            let k = Int(out)!
            if k >= 3 && fails(.countHigh, t) { out = String(k - 1) }
            if k >= 4 && fails(.countVeryHigh, t) { out = String(k + 1) }
        case .twice where fails(.twiceLast, t):
            out = String(out.dropLast())
        default: break
        }
        return out
    }
}

/// A pairwise critic or judge: prefers the completion of higher graded quality with Bradley-Terry
/// reliability, P(A ≻ B) = σ((q_A - q_B) / temperature); equal quality is a tie (0.5).
public struct Critic: Codable, Equatable, Sendable {
    public var name: String
    public var temperature: Double
    public init(name: String, temperature: Double) { self.name = name; self.temperature = temperature }

    /// The strong critic, also the main evaluation judge (GPT-4's role, as in the paper).
    public static let strong = Critic(name: "strong", temperature: 0.05)
    /// A second, noisier judge: shows how the protocol moves the numbers.
    public static let lenient = Critic(name: "lenient", temperature: 0.5)
    /// Claude's role as critic and judge (Figures 4 and 7): as reliable as the strong critic, not identical.
    public static let claude = Critic(name: "claude", temperature: 0.1)
    /// A barely reliable critic, the weak end of the teacher x critic sweep.
    public static let noisy = Critic(name: "noisy", temperature: 2)
    /// Every judge an evaluation reports.
    public static let judges: [Critic] = [.strong, .lenient, .claude]

    public func preference(_ task: Instruction, _ a: String, _ b: String) -> Double {
        let d = task.quality(a) - task.quality(b)
        return d == 0 ? 0.5 : 1 / (1 + Foundation.exp(-d / temperature))
    }

    /// A sampled label: true when `a` is preferred.
    public func prefers(_ task: Instruction, _ a: String, _ b: String, _ rng: inout RandomGenerator) -> Bool {
        Double(rng.nextUniform()) < preference(task, a, b)
    }
}
