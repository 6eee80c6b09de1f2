import Foundation

/// The value of one non-empty spreadsheet cell.
///
/// Formulas are represented by their cached result. Empty cells (no value,
/// style only) never appear as an `XLSXCell`; a string cell may still hold
/// only whitespace — use `isEmpty` or `text` to treat that as empty.
public enum XLSXCell: Sendable, Equatable {
    /// Text exactly as stored (shared, inline or formula string; rich-text runs
    /// concatenated; `_xHHHH_` escapes decoded). Not trimmed.
    case string(String)
    /// A number that is not styled as a date.
    case number(Double)
    /// A boolean cell (`t="b"`).
    case bool(Bool)
    /// A number styled with a date/time format, converted with the workbook's
    /// date system. The wall-clock value is expressed in UTC.
    case date(Date)
    /// An error value such as `#N/A` or `#DIV/0!`.
    case error(String)

    /// A trimmed text form suitable for names, keys and messages:
    /// strings trimmed of surrounding whitespace; integral numbers without a
    /// fraction ("10", not "10.0"), others in shortest form ("7.5");
    /// booleans as "TRUE"/"FALSE"; dates as "yyyy-MM-dd", or
    /// "yyyy-MM-dd HH:mm:ss" when they carry a time (UTC); errors as their code.
    public var text: String {
        switch self {
        case let .string(value):
            return value.trimmingCharacters(in: .whitespacesAndNewlines)
        case let .number(value):
            if value.rounded() == value, abs(value) < 1e15 {
                return String(Int64(value))
            }
            return "\(value)"
        case let .bool(value):
            return value ? "TRUE" : "FALSE"
        case let .date(value):
            return Self.format(value)
        case let .error(code):
            return code
        }
    }

    /// `true` when `text` is empty (a whitespace-only string).
    public var isEmpty: Bool { text.isEmpty }

    /// The numeric value: numbers as is, booleans as 1/0, strings parsed as a
    /// decimal number with a "." separator (e.g. " 7.5 "). `nil` for dates,
    /// errors and text that is not a number.
    public var doubleValue: Double? {
        switch self {
        case let .number(value): return value
        case let .bool(value): return value ? 1 : 0
        case .string:
            guard let value = Double(text), value.isFinite else { return nil }
            return value
        case .date, .error: return nil
        }
    }

    /// A whole number: `doubleValue` when it is integral and fits in `Int`
    /// ("10", 10.0 and "10.0" all give 10). `nil` otherwise, booleans included.
    public var intValue: Int? {
        if case .bool = self { return nil }
        if let exact = Int(text) { return exact }
        guard let value = doubleValue, value.rounded() == value,
              abs(value) < 9.0e15 else { return nil }
        return Int(value)
    }

    /// A yes/no reading: boolean cells; the numbers 1 and 0; and, case-insensitive
    /// and trimmed, the texts "1"/"0", "true"/"false", "yes"/"no" and "x" (yes).
    /// `nil` for anything else, including empty text.
    public var boolValue: Bool? {
        switch self {
        case let .bool(value): return value
        case let .number(value):
            if value == 1 { return true }
            if value == 0 { return false }
            return nil
        case .string:
            switch text.lowercased() {
            case "1", "true", "yes", "x": return true
            case "0", "false", "no": return false
            default: return nil
            }
        case .date, .error: return nil
        }
    }

    /// A date: date cells as is, and text in ISO form "yyyy-MM-dd",
    /// "yyyy-MM-dd HH:mm[:ss]" or "yyyy-MM-ddTHH:mm[:ss]" (read as UTC).
    /// Plain numbers give `nil` here because converting a serial needs the
    /// workbook's date system; `SetupRecord.date(_:)` handles that case.
    public var dateValue: Date? {
        switch self {
        case let .date(value): return value
        case .string: return Self.parseISO(text)
        case .number, .bool, .error: return nil
        }
    }

    // MARK: - Date text

    private static let utcCalendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    private static func format(_ date: Date) -> String {
        let parts = utcCalendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let day = String(format: "%04d-%02d-%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0)
        let (hour, minute, second) = (parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0)
        if hour == 0, minute == 0, second == 0 { return day }
        return day + String(format: " %02d:%02d:%02d", hour, minute, second)
    }

    private static func parseISO(_ text: String) -> Date? {
        let halves = text.split(whereSeparator: { $0 == "T" || $0 == " " })
        guard halves.count == 1 || halves.count == 2 else { return nil }
        let day = halves[0].split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
        guard day.count == 3, halves[0].count == 10,
              let year = day[0], let month = day[1], let dayOfMonth = day[2] else { return nil }
        var time: [Int] = [0, 0, 0]
        if halves.count == 2 {
            let parts = halves[1].split(separator: ":", omittingEmptySubsequences: false).map { Int($0) }
            guard parts.count == 2 || parts.count == 3, !parts.contains(nil) else { return nil }
            for (index, value) in parts.enumerated() { time[index] = value! }
        }
        let components = DateComponents(year: year, month: month, day: dayOfMonth,
                                        hour: time[0], minute: time[1], second: time[2])
        guard let date = utcCalendar.date(from: components) else { return nil }
        // Reject rollovers such as 2024-02-31 or 25:00.
        let check = utcCalendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        guard check.year == year, check.month == month, check.day == dayOfMonth,
              check.hour == time[0], check.minute == time[1], check.second == time[2] else { return nil }
        return date
    }
}
