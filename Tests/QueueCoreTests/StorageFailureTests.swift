import QueueCore
import Testing

/// How errors are named in logs and task histories (``QueueCore/loggedDescription(of:)``).
@Suite("Storage failures: logged with the database's words")
struct LoggedDescriptionTests {
    /// A driver error whose own description hides the cause, as PostgresNIO's does.
    struct HidingDriverError: StorageFailure, CustomStringConvertible {
        var storageCondition: StorageCondition? { nil }
        var storageMessage: String { "terminating connection due to administrator command" }
        var description: String { "Generic description to prevent accidental leakage of sensitive data" }
    }

    struct PlainError: Error, CustomStringConvertible {
        var description: String { "plain failure" }
    }

    @Test("a storage failure by its type and the database's message; any other error as it describes itself")
    func names() {
        #expect(loggedDescription(of: HidingDriverError()) == "HidingDriverError: terminating connection due to administrator command")
        #expect(loggedDescription(of: PlainError()) == "plain failure")
    }
}
