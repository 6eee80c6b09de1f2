import LIMSCore
import SetupWorkbook

/// Imports SENAITE's setup-data workbook (`.xlsx`) into a ``LabState``: lab contacts and their users, clients,
/// client contacts and their users, sample types, methods, instruments, analysis categories and services,
/// reference definitions and samples, worksheet templates.
///
/// All or nothing: every sheet is read and every row checked first; if anything is wrong the import throws an
/// ``ImportError`` listing all problems and `state` is left untouched. Otherwise the changes are applied to a
/// copy that replaces `state` only when everything succeeded.
///
/// Idempotent: objects are matched by natural key (client `Name`; contact client + `Firstname` + `Surname`;
/// lab contact user name, else `Firstname` + `Surname`; user name; sample type, method, instrument, category,
/// reference definition and worksheet template `title`; service `Keyword`; reference sample `id`) and updated
/// instead of duplicated. Re-importing the same workbook records no change in ``LabState/changes``.
///
/// Update rules: scalar fields are set from the workbook; a user keeps its password hash and gains (never
/// loses) roles and groups; allowed methods / instruments of services and instruments, reference values and
/// template services are merged (the workbook's first); a template's layout is replaced when the layouts
/// sheet has rows for it.
///
/// Pure: no I/O, no clock, no randomness (uids and the creation instant are injected).
public enum SetupImporter {
    /// Imports `workbook` into `state`.
    ///
    /// - Parameters:
    ///   - uids: source of uids for created objects.
    ///   - now: creation instant of created objects, Unix epoch seconds.
    ///   - passwordHasher: turns a clear-text password of the workbook into the stored hash. Called only when
    ///     a user is created; clear text is never stored.
    ///   - progress: called with the sheet name, rows done and rows in that sheet: `(sheet, 0, n)` when a
    ///     sheet starts, after each row, and `(sheet, n, n)` when it is finished (sheets in import order).
    ///     Not called when validation fails. Default: none.
    /// - Returns: counts of created and updated objects per portal type, and notes on what was skipped.
    /// - Throws: ``ImportError`` listing every problem (sheet, row, field, reason); `state` is then unchanged.
    @discardableResult
    public static func importWorkbook(
        _ workbook: XLSXWorkbook, into state: inout LabState, uids: any UIDGenerator, now: Double,
        passwordHasher: (String) -> String,
        progress: (_ sheet: String, _ done: Int, _ total: Int) -> Void = { _, _, _ in }
    ) throws -> ImportReport {
        var validator = ImportValidator(workbook: workbook, state: state)
        validator.run()
        guard validator.problems.isEmpty else { throw ImportError(problems: validator.problems) }
        let plan = validator.plan

        return try withoutActuallyEscaping(passwordHasher) { hasher in
            try withoutActuallyEscaping(progress) { progress in
                var applier = ImportApplier(state: state, uids: uids, now: now, hashPassword: hasher,
                                            progress: progress)
                for note in validator.notes { applier.report.note(note) }
                do {
                    try applier.apply(plan)
                } catch {
                    throw ImportError(problems: [ImportProblem(
                        sheet: applier.position.sheet, row: applier.position.row, field: nil,
                        reason: "LIMSCore refused the row: \(error)")])
                }
                state = applier.state
                return applier.report
            }
        }
    }

    /// Checks `workbook` against `state` without importing anything: every problem ``importWorkbook`` would
    /// report (empty when the workbook would import cleanly).
    public static func validate(_ workbook: XLSXWorkbook, against state: LabState) -> [ImportProblem] {
        var validator = ImportValidator(workbook: workbook, state: state)
        validator.run()
        return validator.problems
    }
}
