import Foundation

/// The epoch a workbook counts its date serial numbers from.
///
/// Excel stores dates as a `Double` serial: whole days since the epoch plus a
/// fraction of a day for the time. Workbooks carry no time zone, so every
/// converted `Date` is the wall-clock value interpreted in UTC (read it back
/// with a UTC calendar).
public enum ExcelDateSystem: Sendable, Equatable {
    /// The default system: serial 1 is 1900-01-01. Excel wrongly treats 1900 as a
    /// leap year, so serials 1–59 are shifted by one day and the phantom
    /// 1900-02-29 (serial 60) is read as 1900-02-28.
    case date1900
    /// The old Mac system (`<workbookPr date1904="1"/>`): serial 0 is 1904-01-01.
    case date1904

    /// Seconds from 1970-01-01 to 1899-12-30, the effective 1900-system epoch.
    private static let epoch1900: TimeInterval = -2_209_161_600
    /// Seconds from 1970-01-01 to 1904-01-01.
    private static let epoch1904: TimeInterval = -2_082_844_800
    /// Serial of 9999-12-31 in the 1900 system, Excel's largest date.
    private static let maxSerial = 2_958_465.999_999

    /// Converts an Excel serial number (days, fractional part = time of day) to a
    /// `Date` in UTC, rounded to the millisecond.
    /// - Returns: `nil` when the serial is negative, not finite or beyond 9999-12-31.
    public func date(fromSerial serial: Double) -> Date? {
        guard serial.isFinite, serial >= 0, serial <= Self.maxSerial else { return nil }
        var days = serial
        let epoch: TimeInterval
        switch self {
        case .date1900:
            epoch = Self.epoch1900
            // Before the phantom 1900-02-29 Excel's serials run one day ahead.
            if serial > 0 && serial < 60 { days += 1 }
        case .date1904:
            epoch = Self.epoch1904
        }
        let seconds = (days * 86_400 * 1_000).rounded() / 1_000
        return Date(timeIntervalSince1970: epoch + seconds)
    }

    /// The inverse of `date(fromSerial:)`: days since the epoch for a UTC `Date`.
    /// Useful for tests and for writing values back; no leap-year bug
    /// correction is applied for dates before 1900-03-01.
    public func serial(from date: Date) -> Double {
        let epoch = self == .date1900 ? Self.epoch1900 : Self.epoch1904
        return (date.timeIntervalSince1970 - epoch) / 86_400
    }
}
