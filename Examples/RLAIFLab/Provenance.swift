import Alignment
import Foundation

/// What the cached pieces of a run directory were made from, as SHA-256 hashes of stable JSON
/// (sorted keys): the preset, the world, each teacher, critic and judge, and the code.
public struct Provenance: Codable, Equatable, Sendable {
    public var preset: String
    /// Task generator and splits: the run's prompt pool, evaluation prompts, references and a sample
    /// of pretraining text.
    public var world: String
    /// Name -> hash of the description and of the responses to the run's prompts.
    public var teachers: [String: String]
    public var critics: [String: String]
    public var judges: [String: String]
    /// SHA-256 of the running executable, so any rebuild with other code counts as other code.
    public var codeVersion: String
    /// The numeric settings that change results in the last bits (hence every sampled token):
    /// which kernels run (`TENSORCORE_KERNELS`, the CPU's AVX2), the thread count, GEMM splitting.
    /// Nil in manifests written before it was recorded (then it is not compared).
    public var numerics: String?

    public init(preset: String, world: String, teachers: [String: String], critics: [String: String], judges: [String: String],
                codeVersion: String, numerics: String? = nil) {
        self.numerics = numerics
        self.preset = preset
        self.world = world
        self.teachers = teachers
        self.critics = critics
        self.judges = judges
        self.codeVersion = codeVersion
    }

    /// The components that differ from `recorded`, named for a reader ("teacher weak", "code version").
    public func differences(from recorded: Provenance) -> [String] {
        var out: [String] = []
        if preset != recorded.preset { out.append("preset") }
        if world != recorded.world { out.append("world") }
        for (kind, mine, theirs) in [("teacher", teachers, recorded.teachers), ("critic", critics, recorded.critics),
                                     ("judge", judges, recorded.judges)] {
            for name in Set(mine.keys).union(theirs.keys).sorted() where mine[name] != theirs[name] {
                out.append(mine[name] == nil ? "\(kind) \(name) (removed)" : theirs[name] == nil ? "\(kind) \(name) (new)" : "\(kind) \(name)")
            }
        }
        if codeVersion != recorded.codeVersion || codeVersion == Self.unknownCode { out.append("code version") }
        if let recordedNumerics = recorded.numerics, recordedNumerics != numerics {
            out.append("numeric settings (\(recordedNumerics) then, \(numerics ?? "unknown") now)")
        }
        return out
    }

    static let unknownCode = "unknown"

    /// This process's numeric settings, as `numerics` records them.
    public static var currentNumerics: String {
        "kernels \(NativeKernels.mode.rawValue)/\(NativeKernels.isa.map { $0 != 0 ? "avx2" : "portable" } ?? "off"), "
            + "threads \(Threading.threadCount), gemm \(Threading.splitGEMM ? "split" : "blas")"
    }

    /// SHA-256 of a value's JSON with sorted keys (stable across processes, unlike `Hasher`). A `Set`
    /// encodes in a per-process order, so with `unorderedStringArrays` every array of strings is
    /// sorted before hashing (for descriptions such as a teacher's set of gaps).
    public static func hash<T: Encodable>(_ value: T, unorderedStringArrays: Bool = false) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(value)
        guard unorderedStringArrays else { return SHA256.hex(data) }
        func canonical(_ v: Any) -> Any {
            if let d = v as? [String: Any] { return d.mapValues(canonical) }
            if let a = v as? [Any] {
                if !a.isEmpty, let strings = a as? [String] { return strings.sorted() }
                return a.map(canonical)
            }
            return v
        }
        let object = canonical(try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]))
        return SHA256.hex(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .fragmentsAllowed]))
    }

    /// SHA-256 of the running executable (/proc/self/exe, else argv[0]); "unknown", which never
    /// matches, when neither can be read.
    public static let runningCodeVersion: String = {
        for path in ["/proc/self/exe", CommandLine.arguments.first ?? ""] where !path.isEmpty {
            if let hex = try? SHA256.hex(fileAt: URL(fileURLWithPath: path)) { return hex }
        }
        return unknownCode
    }()
}

extension ExperimentRunner {
    /// The run's provenance: the preset, this runner's world, every teacher in the registry
    /// (`allTeachers`), every critic or judge recipe (`preset.judgeSpecs`, a trained judge being its
    /// recipe run by this code) and the evaluation judges the preset reads with (`preset.judges`).
    public func provenance(teachers: [Teacher] = ExperimentRunner.allTeachers, codeVersion: String = Provenance.runningCodeVersion) throws -> Provenance {
        struct WorldDescription: Encodable {
            var alphabet: String, pool: [Instruction], evaluation: [Instruction], references: [String], referenceQuality: [Double]
            var pretraining: [[Int]]
        }
        let pretraining = Set(preset.families.map(\.skillShare)).sorted().flatMap { share in
            World.pretrainingText(256, seed: 3, skillShare: share).map { $0.prompt + [-1] + $0.completion }
        }
        let world = WorldDescription(alphabet: String(World.alphabet), pool: pool, evaluation: evalTasks, references: references,
                                     referenceQuality: zip(evalTasks, references).map { $0.quality($1) }, pretraining: pretraining)
        // Behaviour as well as description, on fixed probe prompts (not the run's, so another pool
        // does not name every teacher): a teacher whose code changes answers differently, a critic
        // or judge scores the reference teacher's responses against the answers differently.
        let probe = World.tasks(2_000, seed: 4_242)
        let probeReferences = probe.map(Teacher.reference.respond)
        func describe(_ t: Teacher) throws -> String {
            try Provenance.hash([try Provenance.hash(t, unorderedStringArrays: true), try Provenance.hash(probe.map(t.respond))])
        }
        // The ground truth judge's behaviour on the probe, so a change to graded quality is seen.
        let truthScores = TruthJudge().preferences(probe, probe.map(\.answer), probeReferences)
        func describe(_ spec: JudgeSpec) throws -> String {
            try Provenance.hash([try Provenance.hash(spec), try Provenance.hash(truthScores)])
        }
        let specs = Dictionary(uniqueKeysWithValues: try preset.judgeSpecs.map { ($0.name, try describe($0)) })
        let truth = try Provenance.hash(truthScores)
        return Provenance(
            preset: try Provenance.hash(preset), world: try Provenance.hash(world),
            teachers: Dictionary(uniqueKeysWithValues: try teachers.map { ($0.name, try describe($0)) }),
            critics: specs,
            judges: Dictionary(uniqueKeysWithValues: preset.judges.map { ($0, specs[$0] ?? truth) }),
            codeVersion: codeVersion, numerics: Provenance.currentNumerics)
    }
}

/// preset.json: the settings and provenance of the pieces cached in a run directory.
public struct RunManifest: Codable, Equatable, Sendable {
    /// A run that reused the cached pieces although the provenance differed (`--allow-stale-cache`).
    public struct StaleReuse: Codable, Equatable, Sendable {
        public var date: String
        public var differing: [String]
        public var provenance: Provenance
    }

    public var preset: Preset
    /// What made the cached pieces (the first run's provenance).
    public var provenance: Provenance
    public var staleReuses: [StaleReuse] = []

    public init(preset: Preset, provenance: Provenance, staleReuses: [StaleReuse] = []) {
        self.preset = preset
        self.provenance = provenance
        self.staleReuses = staleReuses
    }

    public static let fileName = "preset.json"

    /// Checks `directory`'s preset.json against this run before any cached piece is reused: writes
    /// it for a fresh directory, accepts a match, and refuses a mismatch with an error naming every
    /// component that differs, unless `allowStaleReuse`, which records the reuse in preset.json.
    public static func prepare(_ directory: URL, preset: Preset, provenance: Provenance, allowStaleReuse: Bool,
                               date: Date = Date()) throws -> RunManifest {
        let file = directory.appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: file.path) else {
            // Cached pieces without a manifest (preset.json deleted): nothing says what made them.
            let pieces = ["cache", "models", "arms"].filter { FileManager.default.fileExists(atPath: directory.appendingPathComponent($0).path) }
            if !pieces.isEmpty && !allowStaleReuse {
                throw ProvenanceMismatch(directory: directory, differing: ["provenance (cached pieces in \(pieces.joined(separator: ", ")) but no preset.json)"])
            }
            let manifest = RunManifest(preset: preset, provenance: provenance)
            try manifest.write(to: file)
            return manifest
        }
        let data: Data
        do { data = try Data(contentsOf: file) } catch {
            throw DataError(file: file.path, line: 0, reason: "cannot be read (\(error.localizedDescription)); without it the cached pieces' provenance is unknown")
        }
        var manifest: RunManifest
        var differing: [String]
        if let recorded = try? JSONDecoder().decode(RunManifest.self, from: data) {
            manifest = recorded
            differing = provenance.differences(from: recorded.provenance)
        } else if let legacy = try? JSONDecoder().decode(Preset.self, from: data) {
            // Written before provenance was recorded: nothing says what made the cached pieces.
            manifest = RunManifest(preset: legacy, provenance: Provenance(preset: "", world: "", teachers: [:], critics: [:], judges: [:],
                                                                          codeVersion: Provenance.unknownCode))
            differing = (legacy == preset ? [] : ["preset"]) + ["provenance (preset.json predates provenance hashes)"]
        } else {
            throw DataError(file: file.path, line: 0, reason: "neither a run manifest (preset, provenance) nor a preset; remove it or choose another --name or --output")
        }
        if differing.isEmpty { return manifest }
        guard allowStaleReuse else { throw ProvenanceMismatch(directory: directory, differing: differing) }
        let formatter = ISO8601DateFormatter()
        manifest.staleReuses.append(StaleReuse(date: formatter.string(from: date), differing: differing, provenance: provenance))
        try manifest.write(to: file)
        return manifest
    }

    func write(to file: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try SafeTensors.atomicWrite(try encoder.encode(self), to: file)
    }
}

/// A run directory whose cached pieces were made from something other than this run's settings.
public struct ProvenanceMismatch: Error, CustomStringConvertible, LocalizedError, Equatable {
    public var directory: URL
    public var differing: [String]

    public var description: String {
        "\(directory.path) holds cached pieces (bases, SFT models, arm results) made with a different " + differing.joined(separator: ", ")
            + " (see its preset.json). Choose another --name or --output for a fresh run, or pass --allow-stale-cache to reuse "
            + "them anyway (preset.json and results.json then record the reuse and what differed)."
    }

    public var errorDescription: String? { description }
}

extension Report {
    /// results.json's "provenance": the hashes of what made the cached pieces and any stale reuse.
    public struct ProvenanceSummary: Codable, Equatable, Sendable {
        public var worldHash: String
        public var codeVersion: String
        public var presetHash: String
        public var teachers: [String: String]
        public var critics: [String: String]
        public var judges: [String: String]
        public var staleReuses: [RunManifest.StaleReuse]

        enum CodingKeys: String, CodingKey {
            case worldHash = "world_hash", codeVersion = "code_version", presetHash = "preset_hash", teachers, critics, judges
            case staleReuses = "stale_reuses"
        }

        public init(_ manifest: RunManifest) {
            let p = manifest.provenance
            (worldHash, codeVersion, presetHash) = (p.world, p.codeVersion, p.preset)
            (teachers, critics, judges, staleReuses) = (p.teachers, p.critics, p.judges, manifest.staleReuses)
        }
    }
}
