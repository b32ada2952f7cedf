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

    /// Share of exact answers per task kind (which skills a set of outputs has).
    public static func exactMatchByKind(_ tasks: [Instruction], _ outputs: [String]) -> [String: Double] {
        var byKind: [String: Double] = [:]
        for kind in TaskKind.allCases {
            let idx = tasks.indices.filter { tasks[$0].kind == kind }
            byKind[kind.rawValue] = Double(idx.filter { outputs[$0] == tasks[$0].answer }.count) / Double(max(idx.count, 1))
        }
        return byKind
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
/// not noise that imitation would average away). Each gap covers a feature of the instance (long
/// words, a carry, repeated letters) and fails a fixed share of the instances with it.
public struct Teacher: Codable, Equatable, Sendable {
    public enum Gap: String, Codable, CaseIterable, Sendable {
        /// reverse of 4+ letters swaps the first two output letters (when they differ)
        case reverseLong
        /// sort of 5+ letters leaves the last two unsorted (when they differ)
        case sortLong
        /// sort of a word with a repeated letter writes each letter once (a shorter answer)
        case sortDuplicates
        /// addition ignores the carry (writes the sum mod 10)
        case addNoCarry
        /// counts of 2 or more are one too low
        case countHigh
        /// the last letter is written once (a shorter answer)
        case twiceLast
        /// the last letter is written three times (a longer answer)
        case twiceExtra
    }

    public struct Failure: Codable, Equatable, Sendable {
        public var gap: Gap
        /// Share of the instances the gap covers on which the teacher fails.
        public var share: Double
        public init(_ gap: Gap, _ share: Double) { self.gap = gap; self.share = share }
    }

    public var name: String
    public var failures: [Failure]

    public init(name: String, failures: [Failure]) {
        self.name = name
        self.failures = failures
    }

    /// Whether the teacher fails `t` through `gap`. Which instances is fixed by a hash of the
    /// instruction, so the teacher always fails the same ones (systematic, not noise), but no feature
    /// a student could read off the prompt tells them apart. (Which instances a gap covers at all,
    /// long words or carries, `Gap.covers` checks.)
    func fails(_ gap: Gap, _ t: Instruction) -> Bool {
        guard let share = failures.first(where: { $0.gap == gap })?.share, gap.covers(t) else { return false }
        return Double(World.stableHash(t.instruction + "|" + gap.rawValue) >> 11) / Double(1 << 53) < share
    }

    /// GPT-3.5's role: many gaps, failing often.
    public static let weak = Teacher(name: "weak", failures: [.init(.reverseLong, 0.6), .init(.sortDuplicates, 0.4), .init(.addNoCarry, 0.7),
                                                              .init(.countHigh, 0.7), .init(.twiceLast, 0.8)])
    /// GPT-4's role: the best teacher, still imperfect, with errors of several kinds.
    public static let strong = Teacher(name: "strong", failures: [.init(.reverseLong, 0.2), .init(.addNoCarry, 0.15), .init(.countHigh, 0.5),
                                                                  .init(.twiceExtra, 0.3)])
    /// Claude's role: between the weak and the strong teacher, with other gaps.
    public static let claude = Teacher(name: "claude", failures: [.init(.reverseLong, 0.2), .init(.sortDuplicates, 0.5), .init(.addNoCarry, 0.4),
                                                                  .init(.twiceLast, 0.3)])
    /// The middling teacher whose completions are the evaluation references (AlpacaEval's role).
    public static let reference = Teacher(name: "reference", failures: [.init(.reverseLong, 0.3), .init(.sortLong, 0.8), .init(.addNoCarry, 0.8),
                                                                        .init(.countHigh, 0.5), .init(.twiceLast, 0.5)])
    public static let all: [Teacher] = [.weak, .strong, .claude, .reference]

    public func respond(_ t: Instruction) -> String {
        for gap in Gap.allCases where gap.kind == t.kind && fails(gap, t) { return gap.apply(t) }
        return t.answer
    }
}

extension Teacher.Gap {
    public var kind: TaskKind {
        switch self {
        case .reverseLong: return .reverse
        case .sortLong, .sortDuplicates: return .sort
        case .addNoCarry: return .add
        case .countHigh: return .count
        case .twiceLast, .twiceExtra: return .twice
        }
    }

    /// Whether the instance has the feature this gap is about.
    public func covers(_ t: Instruction) -> Bool {
        guard t.kind == kind else { return false }
        switch self {
        case .reverseLong: return t.argument.count >= 4 && Set(t.answer.prefix(2)).count == 2
        case .sortLong: return t.argument.count >= 5 && Set(t.answer.suffix(2)).count == 2
        case .sortDuplicates: return Set(t.argument).count < t.argument.count
        case .addNoCarry: return Int(t.answer)! >= 10
        case .countHigh: return Int(t.answer)! >= 2
        case .twiceLast, .twiceExtra: return true
        }
    }

    /// The wrong answer this gap gives on an instance it covers.
    public func apply(_ t: Instruction) -> String {
        let answer = Array(t.answer)
        switch self {
        case .reverseLong: return String([answer[1], answer[0]] + answer.dropFirst(2))
        case .sortLong: return String(answer.dropLast(2) + [answer[answer.count - 1], answer[answer.count - 2]])
        case .sortDuplicates: return String(Set(answer).sorted())
        case .addNoCarry: return String(Int(t.answer)! % 10)
        case .countHigh: return String(Int(t.answer)! - 1)
        case .twiceLast: return String(answer.dropLast())
        case .twiceExtra: return t.answer + String(answer[answer.count - 1])
        }
    }
}

/// Ground-truth labels for pairs of completions: prefers the one of higher graded quality with
/// Bradley-Terry reliability, P(A ≻ B) = σ((q_A − q_B) / temperature + lengthBias · (|A| − |B|)),
/// where |·| counts characters; equal quality and length is a tie (0.5). These are the labels judge
/// models learn from (the human labels behind a GPT-4's judgement; a length bias is an annotator
/// pool that likes longer answers), and `truth` is the noise-free reading reported beside the judges.
public struct Annotator: Codable, Equatable, Sendable {
    public var temperature: Double
    public var lengthBias: Double

    public init(temperature: Double, lengthBias: Double = 0) {
        self.temperature = temperature
        self.lengthBias = lengthBias
    }

    /// Careful annotators: nearly always pick the better completion.
    public static let careful = Annotator(temperature: 0.05)
    /// Annotators who like longer answers: a character more is worth a fifth of the whole quality scale.
    public static let lengthLoving = Annotator(temperature: 0.05, lengthBias: 4)

    public func preference(_ task: Instruction, _ a: String, _ b: String) -> Double {
        let logit = (task.quality(a) - task.quality(b)) / temperature + lengthBias * Double(a.count - b.count)
        return logit == 0 ? 0.5 : 1 / (1 + Foundation.exp(-logit))
    }

    /// A sampled label: true when `a` is preferred.
    public func prefers(_ task: Instruction, _ a: String, _ b: String, _ rng: inout RandomGenerator) -> Bool {
        Double(rng.nextUniform()) < preference(task, a, b)
    }
}

extension World {
    /// A completion a judge is trained on: the answer, one of the teachers' kinds of error, a small
    /// corruption of the answer, or base-model-like noise, so a judge sees the errors it will judge
    /// and others besides.
    public static func candidate(_ t: Instruction, _ rng: inout RandomGenerator) -> String {
        let answer = Array(t.answer)
        let symbols = Array("abcdef0123456789")
        func symbol() -> Character { symbols[Int(rng.next() % UInt64(symbols.count))] }
        switch rng.next() % 8 {
        case 0, 1: return t.answer
        case 2, 3, 4:
            let gaps = Teacher.Gap.allCases.filter { $0.covers(t) }
            return gaps.isEmpty ? t.answer : gaps[Int(rng.next() % UInt64(gaps.count))].apply(t)
        case 5:
            var c = answer
            switch rng.next() % 3 {
            case 0: c[Int(rng.next() % UInt64(c.count))] = symbol()
            case 1: if c.count > 1 { c.remove(at: Int(rng.next() % UInt64(c.count))) } else { c.append(symbol()) }
            default: c.insert(symbol(), at: Int(rng.next() % UInt64(c.count + 1)))
            }
            return String(c)
        case 6:
            return String(answer.prefix(max(1, Int(rng.next() % UInt64(answer.count + 1)))))
        default:
            return String((0..<(1 + Int(rng.next() % 8))).map { _ in symbol() })
        }
    }

    /// Labelled pairs for training or checking a judge: two candidates per prompt (identical ones are
    /// redrawn), labelled by `annotator`; `chosen` is first.
    public static func judgePairs(_ n: Int, seed: UInt64, split part: Split, annotator: Annotator) -> [(task: Instruction, chosen: String, rejected: String)] {
        var rng = RandomGenerator(seed: seed &+ 0x5eed)
        return tasks(n, seed: seed, split: part).map { t in
            let a = candidate(t, &rng)
            var b = candidate(t, &rng)
            while b == a { b = candidate(t, &rng) }
            return annotator.prefers(t, a, b, &rng) ? (t, a, b) : (t, b, a)
        }
    }
}
