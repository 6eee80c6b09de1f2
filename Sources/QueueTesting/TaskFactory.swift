import QueueCore

/// Builds tasks for tests with readable defaults.
public enum TaskFactory {
    /// A task named `name` on `/senaite/worksheets/<context>` created at `created`, claimable `delay` seconds later
    /// (nil: at once).
    public static func task(
        _ name: String = "task_action_submit",
        context: String = "WS-0001",
        contextUID: String? = nil,
        created: Double,
        priority: Int = 10,
        retries: Int = 3,
        unique: Bool = false,
        maxSeconds: Int = 120,
        uids: [String] = [],
        username: String = "analyst1",
        delay: Double? = nil
    ) -> QueueTask {
        QueueTask(name: name, contextUID: contextUID ?? uid(for: context), contextPath: "/senaite/worksheets/\(context)",
                  uids: uids, created: created, minSeconds: 0, maxSeconds: maxSeconds, priority: priority,
                  retries: retries, unique: unique, username: username, delay: delay)
    }

    /// A stable 32-hex uid derived from a name (same name, same uid).
    public static func uid(for name: String) -> String {
        var hash: UInt64 = 1469598103934665603
        for byte in name.utf8 { hash = (hash ^ UInt64(byte)) &* 1099511628211 }
        let second = hash &* 6364136223846793005 &+ 1442695040888963407
        return hex(hash) + hex(second)
    }

    static func hex(_ word: UInt64) -> String {
        let text = String(word, radix: 16)
        return String(repeating: "0", count: 16 - text.count) + text
    }
}
