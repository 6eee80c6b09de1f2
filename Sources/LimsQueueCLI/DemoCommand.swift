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
    @Option(name: .long, help: "Samples to create, 1...1000000 (written in batches of 500).") var count: Int = 20
    @Option(name: .long, help: "Random seed (same seed, same samples).") var seed: UInt64 = 1

    func validate() throws {
        guard (1...1_000_000).contains(count) else { throw ValidationError("--count must be in 1...1000000") }
    }

    func run() async throws {
        let (count, seed) = (self.count, self.seed)
        let progress = ProgressBar()
        let started = ContinuousClock.now
        let ids = try await StorageEnvironment.with(dataDir: common.dataDir, database: common.databaseURL, durability: common.durabilityLevel,
                                                    existing: true, logger: common.logger("limsqueue.demo")) {
            try await DemoLab.createSamples(count: count, seed: seed, in: $0, progress: progress)
        }
        progress.finish()
        let elapsed = started.duration(to: .now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("AnalysisRequest: \(ids.count) (\(ids.first ?? "-") ... \(ids.last ?? "-"))"
              + String(format: " in %.1f s, %.0f samples/s", seconds, Double(ids.count) / max(seconds, 0.001)))
    }
}

/// Demo data generation.
enum DemoLab {
    /// Samples a unit of work of `createSamples` creates: 500.
    static let batchSize = 500
    /// Seconds between the creation times of consecutive demo samples: 0.1 ms.
    static let createdStep = 0.000_1
    /// Batches `createSamples` runs at once: 2 (the process's single writer writes one while the other is drawn).
    static let batchesInFlight = 2

    /// Creates `count` samples in batches of ``batchSize`` (one unit of work each, written with multi-row
    /// inserts; ``batchesInFlight`` at once), received by a lab manager, then refreshes the database's planner
    /// statistics. - Returns: the sample ids, in batch order. The cost per sample
    /// does not depend on the lab's size: each batch reads only the setup objects and the contacts with their
    /// clients, reserves its sample ids, and writes rows whose uids and creation times sort after every stored
    /// one (``DemoUIDGenerator``), so that each index grows at its end.
    /// - Throws: ``CLIError`` when the lab has no clients with contacts, no sample types, no lab-analysis
    ///   services or no lab manager.
    static func createSamples(count: Int, seed: UInt64, in environment: StorageEnvironment, progress: ProgressBar) async throws -> [String] {
        var ids: [String] = []
        var random = SeededRandom(seed: seed &+ UInt64(count))
        try await environment.lab.perform { state, _ in _ = try allowTemplateInstruments(in: &state) }
        guard let manager = try await environment.lab.read({ state, _ in
            state.users.values.sorted(by: { $0.userid < $1.userid }).first(where: \.isLabManager)
        }) else {
            throw CLIError("no lab manager in the lab: import the setup first (limsqueue setup import FILE.xlsx)")
        }
        let contactUIDs = try await environment.lab.catalog(CatalogQuery(portalType: .contact, limit: 100_000), visibleTo: manager).uids
        let clock = SystemWallClock()
        let uids = DemoUIDGenerator(start: clock.now())
        // Creation times follow creation order (0.1 ms apart), so the date indexes also grow at their end.
        let firstCreated = clock.now()
        var drawn: [(offset: Int, size: Int, seed: UInt64)] = []
        while drawn.reduce(0, { $0 + $1.size }) < count {
            let offset = drawn.last.map { $0.offset + $0.size } ?? 0
            drawn.append((offset, min(batchSize, count - offset), random.next()))
        }
        let batches = drawn
        let lab = environment.lab
        // Sample ids are reserved before any batch runs, per sample type, for every batch at once: a reservation of
        // its own per batch would wait behind the other batch's write on the process's single writer, and the lab
        // rules of one batch would no longer run while the other is written. Each batch's draw is seeded, so
        // drawing it here (to count its sample types) and again in its unit of work gives the same samples.
        let perBatch: [[String: Int]] = try await lab.read { state, reader in
            try await reader.load(contactUIDs, into: &state)
            let contacts = contactUIDs.compactMap { state.contacts.peek($0) }
            return try batches.map { batch in
                var generator = SeededRandom(seed: batch.seed)
                let plan = try plan(batch.size, contacts: contacts, in: state, random: &generator, firstCreated: 0)
                return Dictionary(grouping: plan, by: \.sampleTypePrefix).mapValues(\.count)
            }
        }
        var nextNumber: [String: Int] = [:]
        for (prefix, total) in perBatch.reduce(into: [String: Int](), { $0.merge($1, uniquingKeysWith: +) }).sorted(by: { $0.key < $1.key }) {
            nextNumber[prefix] = try await lab.reserve(LabState.counterKey(.sample, sampleTypePrefix: prefix), count: total).lowerBound
        }
        let reservations: [[String: ClosedRange<Int>]] = perBatch.map { counts in
            counts.reduce(into: [:]) { ranges, entry in
                let first = nextNumber[entry.key] ?? 1
                ranges[entry.key] = first...(first + entry.value - 1)
                nextNumber[entry.key] = first + entry.value
            }
        }
        @Sendable func create(_ index: Int) async throws -> (Int, [String]) {
            let batch = batches[index]
            let created = try await lab.perform { state, reader -> [String] in
                try await reader.load(contactUIDs, into: &state)
                var generator = SeededRandom(seed: batch.seed) // a retry after a conflict draws the same samples
                let plan = try plan(batch.size, contacts: contactUIDs.compactMap { state.contacts.peek($0) }, in: state,
                                    random: &generator, firstCreated: firstCreated + Double(batch.offset) * createdStep)
                for (prefix, range) in reservations[index] {
                    state.takeReserved(LabState.counterKey(.sample, sampleTypePrefix: prefix), range)
                }
                return try makeSamples(plan, manager: manager, uids: uids, in: &state)
            }
            return (batch.offset, created)
        }
        // Two batches in flight: one is drawn and run through the lab rules while the other is written.
        var created: [Int: [String]] = [:]
        try await withThrowingTaskGroup(of: (Int, [String]).self) { group in
            var next = 0
            while next < min(batchesInFlight, batches.count) {
                let index = next
                group.addTask { try await create(index) }
                next += 1
            }
            while let (offset, ids) = try await group.next() {
                created[offset] = ids
                progress.update("Samples", done: created.values.reduce(0) { $0 + $1.count }, total: count)
                if next < batches.count {
                    let index = next
                    group.addTask { try await create(index) }
                    next += 1
                }
            }
        }
        ids = created.keys.sorted().flatMap { created[$0] ?? [] }
        try await environment.lab.refreshPlannerStatistics()
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

    /// One demo sample to create: its contact, sample type, services, priority and creation time.
    struct PlannedSample: Sendable {
        let contact: Contact
        let sampleTypeUID: String
        let sampleTypePrefix: String
        let serviceUIDs: [String]
        let priority: Int
        let created: Double
    }

    /// Draws `count` samples for random `contacts` (3-8 analyses each; half of them with the worksheet templates'
    /// services, so template worksheets have work), created ``createdStep`` apart from `firstCreated` (epoch seconds).
    /// - Throws: ``CLIError`` when the lab lacks contacts, sample types or services.
    static func plan(_ count: Int, contacts: [Contact], in state: LabState, random: inout SeededRandom,
                     firstCreated: Double) throws -> [PlannedSample] {
        let templateServices = Set(state.worksheetTemplates.values.flatMap(\.serviceUIDs)).sorted()
        let contacts = contacts.sorted { $0.path < $1.path }
        let sampleTypes = state.sampleTypes.values.sorted { $0.prefix < $1.prefix }
        let services = state.analysisServices.values.sorted { $0.keyword < $1.keyword }
        guard !contacts.isEmpty, !sampleTypes.isEmpty, services.count >= 3 else {
            throw CLIError("the lab needs clients with contacts, sample types and at least 3 analysis services: import the setup first")
        }
        return (0..<count).map { index in
            let contact = contacts[Int(random.next() % UInt64(contacts.count))]
            let sampleType = sampleTypes[Int(random.next() % UInt64(sampleTypes.count))]
            let wanted = 3 + Int(random.next() % 6)
            var chosen: [String] = random.next() % 2 == 0 ? templateServices : []
            var pool = services.filter { !chosen.contains($0.uid) }
            while chosen.count < min(wanted, services.count), !pool.isEmpty {
                chosen.append(pool.remove(at: Int(random.next() % UInt64(pool.count))).uid)
            }
            return PlannedSample(contact: contact, sampleTypeUID: sampleType.uid, sampleTypePrefix: sampleType.prefix, serviceUIDs: chosen,
                                 priority: 1 + Int(random.next() % 5), created: firstCreated + Double(index) * createdStep)
        }
    }

    /// Creates the planned samples with uids from `uids` and receives them as `manager`. - Returns: their ids.
    /// - Throws: ``CLIError`` when a sample cannot be received; lab rule errors.
    static func makeSamples(_ plan: [PlannedSample], manager: User, uids: any UIDGenerator, in state: inout LabState) throws -> [String] {
        let now = SystemWallClock().now()
        let context = TransitionContext(user: manager, uids: uids)
        var ids: [String] = []
        for planned in plan {
            let sample = try state.createSample(clientUID: planned.contact.clientUID, contactUID: planned.contact.uid,
                                                sampleTypeUID: planned.sampleTypeUID, serviceUIDs: planned.serviceUIDs,
                                                priority: planned.priority, uids: uids, now: planned.created)
            if case .refused(let guardID, let reason) = WorkflowEngine.doTransition("receive", on: sample.uid, context: context,
                                                                                   state: &state, now: now) {
                throw CLIError("sample \(sample.id) could not be received (\(guardID)): \(reason)")
            }
            ids.append(sample.id)
        }
        return ids
    }
}

