import ArgumentParser
import Foundation
import LIMSCore
import QueueCore
import Storage

/// `limsqueue demo ...`: demo data for a lab loaded from its setup.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Demo data for a lab whose setup is loaded.",
        subcommands: [DemoSamplesCommand.self, DemoRunCommand.self]
    )
}

/// `limsqueue demo samples --count N`: realistic received samples spread over the clients.
struct DemoSamplesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "samples",
        abstract: "Create N received samples over the imported clients, each with 3-8 analyses of lab services.",
        discussion: "Half the samples include the worksheet templates' services; a template instrument no service allows is allowed for the template's services (the demo workbook leaves that sheet empty)."
    )

    @OptionGroup var common: CommonOptions
    @Option(name: .long, help: "Samples to create.") var count: Int = 20
    @Option(name: .long, help: "Random seed (same seed, same samples).") var seed: UInt64 = 1

    func validate() throws {
        guard (1...10_000).contains(count) else { throw ValidationError("--count must be in 1...10000") }
    }

    func run() async throws {
        let (count, seed) = (self.count, self.seed)
        let progress = ProgressBar()
        let ids = try await StorageEnvironment.with(dataDir: common.dataDir, database: common.databaseURL, durability: common.durabilityLevel, logger: common.logger("limsqueue.demo")) {
            try await DemoLab.createSamples(count: count, seed: seed, in: $0, progress: progress)
        }
        progress.finish()
        print("AnalysisRequest: \(ids.count) (\(ids.first ?? "-") ... \(ids.last ?? "-"))")
    }
}

/// Demo data generation.
enum DemoLab {
    /// Creates `count` samples in batches of 50 (one unit of work each), received by a lab manager.
    /// - Throws: ``CLIError`` when the lab has no clients with contacts, no sample types, no lab-analysis
    ///   services or no lab manager.
    static func createSamples(count: Int, seed: UInt64, in environment: StorageEnvironment, progress: ProgressBar) async throws -> [String] {
        var ids: [String] = []
        var random = SeededRandom(seed: seed &+ UInt64(count))
        var done = 0
        while done < count {
            let batch = min(50, count - done)
            let batchSeed = random.next()
            let created = try await environment.lab.perform { state -> [String] in
                var generator = SeededRandom(seed: batchSeed) // a retry after a conflict draws the same samples
                return try makeSamples(batch, in: &state, random: &generator)
            }
            ids += created
            done += batch
            progress.update("Samples", done: done, total: count)
        }
        let state = try await environment.lab.load()
        let touched = state.samples.values.filter { ids.contains($0.id) }.flatMap { sample in
            [sample.uid] + state.analyses(ofSample: sample.uid).map(\.uid)
        }
        try await environment.lab.reindexSecurity(touched)
        return ids
    }

    /// Lets each worksheet template's instrument take the template's services when none of them allows it, so
    /// the demo's templates select analyses: SENAITE's demo workbook names an instrument on its Hardness template
    /// but leaves `AnalysisService Instruments` empty, and an instrument not allowed for a service keeps its
    /// analyses off the template (reference 3.5). A lab's own workbook fills that sheet instead.
    /// - Returns: the services changed.
    @discardableResult
    static func allowTemplateInstruments(in state: inout LabState) throws -> [String] {
        var changed: [String] = []
        for template in state.worksheetTemplates.values {
            guard let instrument = template.instrumentUID,
                  !template.serviceUIDs.contains(where: { state.analysisServices[$0]?.instrumentUIDs.contains(instrument) == true })
            else { continue }
            for uid in template.serviceUIDs where state.analysisServices[uid] != nil {
                try state.modify(AnalysisService.self, uid) { $0.instrumentUIDs.append(instrument) }
                changed.append(uid)
            }
        }
        return changed
    }

    static func makeSamples(_ count: Int, in state: inout LabState, random: inout SeededRandom) throws -> [String] {
        try allowTemplateInstruments(in: &state)
        // Half the samples ask for the worksheet templates' services, so template worksheets have work.
        let templateServices = Set(state.worksheetTemplates.values.flatMap(\.serviceUIDs)).sorted()
        let contacts = state.contacts.values.sorted { $0.path < $1.path }
        let sampleTypes = state.sampleTypes.values.sorted { $0.prefix < $1.prefix }
        let services = state.analysisServices.values.sorted { $0.keyword < $1.keyword }
        guard let manager = state.users.values.sorted(by: { $0.userid < $1.userid }).first(where: \.isLabManager) else {
            throw CLIError("no lab manager in the lab: import the setup first (limsqueue setup import FILE.xlsx)")
        }
        guard !contacts.isEmpty, !sampleTypes.isEmpty, services.count >= 3 else {
            throw CLIError("the lab needs clients with contacts, sample types and at least 3 analysis services: import the setup first")
        }
        let now = SystemWallClock().now()
        let uids = RandomUIDGenerator()
        var ids: [String] = []
        for _ in 0..<count {
            let contact = contacts[Int(random.next() % UInt64(contacts.count))]
            let sampleType = sampleTypes[Int(random.next() % UInt64(sampleTypes.count))]
            let wanted = 3 + Int(random.next() % 6)
            var chosen: [String] = random.next() % 2 == 0 ? templateServices : []
            var pool = services.filter { !chosen.contains($0.uid) }
            while chosen.count < min(wanted, services.count), !pool.isEmpty {
                chosen.append(pool.remove(at: Int(random.next() % UInt64(pool.count))).uid)
            }
            let sample = try state.createSample(clientUID: contact.clientUID, contactUID: contact.uid, sampleTypeUID: sampleType.uid,
                                                serviceUIDs: chosen, priority: 1 + Int(random.next() % 5), uids: uids,
                                                now: now - Double(random.next() % 86_400))
            let context = TransitionContext(user: manager, uids: uids)
            if case .refused(let guardID, let reason) = WorkflowEngine.doTransition("receive", on: sample.uid, context: context,
                                                                                   state: &state, now: now) {
                throw CLIError("sample \(sample.id) could not be received (\(guardID)): \(reason)")
            }
            ids.append(sample.id)
        }
        return ids
    }
}

/// A small deterministic random number generator (SplitMix64) for reproducible demo data.
struct SeededRandom: RandomNumberGenerator, Sendable {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
