import ArgumentParser
import Foundation
import LabActions
import LIMSCore
import LimsAPI
import QueueServer
import Storage

/// `limsqueue users ...`: the lab's user accounts from the command line (the operator on the server acts as a
/// Manager): list, add, set roles and details, reset a password, deactivate and reactivate. A password reset and a
/// deactivation end the user's sessions at once, on every node of the database. Rules: ``LimsAPI/UserAccounts``.
struct UsersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users",
        abstract: "List, add and change the lab's users (roles, password, deactivation).",
        subcommands: [List.self, Add.self, SetUser.self, ResetPassword.self, Deactivate.self, Activate.self]
    )

    /// Runs `body` with the accounts of the data dir's lab (the database must exist), mapping API errors to one line.
    static func withAccounts<T: Sendable>(_ common: CommonOptions, _ body: @escaping @Sendable (UserAccounts) async throws -> T) async throws -> T {
        try await StorageEnvironment.with(dataDir: common.dataDir, database: common.databaseURL, existing: true,
                                          logger: common.logger("limsqueue.users")) { environment in
            let accounts = UserAccounts(repository: environment.lab, sessions: SQLSessionStore(store: environment.store))
            do {
                return try await body(accounts)
            } catch let error as QueueAPIError {
                throw CLIError(error.detail)
            }
        }
    }

    /// The password from `--password-stdin` (first line of standard input), else a new random one (printed once).
    static func password(fromStdin: Bool) -> (password: String, generated: Bool) {
        if fromStdin, let line = readLine(strippingNewline: true) { return (line, false) }
        let alphabet = Array("abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        return (String((0..<16).map { _ in alphabet.randomElement()! }), true)
    }

    static func describe(_ user: User) -> String {
        let roles = user.roles.sorted().map(\.rawValue).joined(separator: ",")
        // Names and full names come from the API: escaped as `status` and `tasks` escape task names (a tryout's full
        // name holding ESC [2J cleared the screen of `users list`).
        return "\(TerminalText.safe(user.userid))\t\(roles.isEmpty ? "-" : roles)\t\(user.isActive ? "active" : "deactivated")\t"
            + TerminalText.safe(user.fullname)
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the users: id, roles, active or deactivated, full name.")
        @OptionGroup var common: CommonOptions

        func run() async throws {
            let users = try await UsersCommand.withAccounts(common) { try await $0.list(actor: nil) }
            print(users.isEmpty ? "no users" : users.map(UsersCommand.describe).joined(separator: "\n"))
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a user with lab roles.",
            discussion: "Without --password-stdin a random password is made and printed once. Lab roles: "
                + UserAccounts.labRoles.map(\.rawValue).sorted().joined(separator: ", ")
        )
        @OptionGroup var common: CommonOptions
        @Argument(help: "The user id (login name).") var username: String
        @Option(name: .customLong("role"), help: "A lab role (repeat for several).") var roles: [String] = []
        @Option(name: .long, help: "Full name.") var fullname: String = ""
        @Option(name: .long, help: "E-mail address.") var email: String = ""
        @Flag(name: .long, help: "Read the password from the first line of standard input.") var passwordStdin = false

        func validate() throws {
            guard !roles.isEmpty else { throw ValidationError("give at least one --role, e.g. --role LabManager") }
        }

        func run() async throws {
            let roles = try UsersCommand.parseRoles(self.roles)
            let (password, generated) = UsersCommand.password(fromStdin: passwordStdin)
            let (username, fullname, email) = (self.username, self.fullname, self.email)
            let user = try await UsersCommand.withAccounts(common) {
                try await $0.create(actor: nil, username: username, password: password, roles: roles, fullname: fullname, email: email)
            }
            print("added: " + UsersCommand.describe(user))
            if generated { print("password: \(password)") }
        }
    }

    struct SetUser: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set", abstract: "Change a user's roles, full name or e-mail.")
        @OptionGroup var common: CommonOptions
        @Argument(help: "The user id.") var username: String
        @Option(name: .customLong("role"), help: "The new lab roles (repeat; replaces the old ones).") var roles: [String] = []
        @Option(name: .long, help: "Full name.") var fullname: String?
        @Option(name: .long, help: "E-mail address.") var email: String?

        func validate() throws {
            guard !roles.isEmpty || fullname != nil || email != nil else { throw ValidationError("nothing to change: give --role, --fullname or --email") }
        }

        func run() async throws {
            let change = UserAccounts.Change(roles: roles.isEmpty ? nil : try UsersCommand.parseRoles(roles), fullname: fullname, email: email)
            let username = self.username
            let (user, _) = try await UsersCommand.withAccounts(common) { try await $0.update(actor: nil, username: username, change) }
            print("changed: " + UsersCommand.describe(user))
        }
    }

    struct ResetPassword: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset-password",
            abstract: "Set a new password (random and printed once without --password-stdin); ends the user's sessions."
        )
        @OptionGroup var common: CommonOptions
        @Argument(help: "The user id.") var username: String
        @Flag(name: .long, help: "Read the password from the first line of standard input.") var passwordStdin = false

        func run() async throws {
            let (password, generated) = UsersCommand.password(fromStdin: passwordStdin)
            let username = self.username
            let (_, ended) = try await UsersCommand.withAccounts(common) {
                try await $0.update(actor: nil, username: username, UserAccounts.Change(password: password))
            }
            print("password reset for \(username); \(ended) session(s) ended")
            if generated { print("password: \(password)") }
        }
    }

    struct Deactivate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Deactivate a user: no login, sessions ended, queued tasks fail instead of acting for them."
        )
        @OptionGroup var common: CommonOptions
        @Argument(help: "The user id.") var username: String

        func run() async throws {
            let username = self.username
            let (_, ended) = try await UsersCommand.withAccounts(common) {
                try await $0.update(actor: nil, username: username, UserAccounts.Change(active: false))
            }
            print("deactivated \(username); \(ended) session(s) ended")
        }
    }

    struct Activate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Reactivate a deactivated user.")
        @OptionGroup var common: CommonOptions
        @Argument(help: "The user id.") var username: String

        func run() async throws {
            let username = self.username
            _ = try await UsersCommand.withAccounts(common) { try await $0.update(actor: nil, username: username, UserAccounts.Change(active: true)) }
            print("activated \(username)")
        }
    }

    /// - Throws: ``CLIError`` naming an unknown role.
    static func parseRoles(_ names: [String]) throws -> Set<Role> {
        do {
            return try UserAccounts.roles(names.flatMap { $0.split(separator: ",").map(String.init) })
        } catch let error as QueueAPIError {
            throw CLIError(error.detail)
        }
    }
}
