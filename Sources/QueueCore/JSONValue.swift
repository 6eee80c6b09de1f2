import Foundation

/// A JSON value of any shape.
///
/// Task dicts of senaite.queue carry keys this project does not model (a client may add anything);
/// they are kept verbatim in ``QueueTask/extra`` as `JSONValue`s and sent back unchanged.
/// Integers and floating-point numbers are kept apart so that `5` stays `5` and `1.5` stays `1.5`; a number
/// neither can hold exactly is kept as its text (``verbatimNumber(_:)``).
public enum JSONValue: Sendable, Hashable, Codable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    /// A JSON number that neither `Int` nor `Double` holds exactly, as the client wrote it: an integer beyond 64 bits
    /// (`12345678901234567890123`), a magnitude beyond `Double`'s range (`1e400`), or one so small that `Double` reads
    /// it as zero (`1e-400`). Python's `json`, which senaite.queue's clients and server use, keeps such integers
    /// exactly; kept as text, a task's extra field is stored and answered as sent instead of rounded or turned into
    /// `null`. ``doubleValue`` reads it as the nearest `Double` (infinite beyond the range), ``intValue`` as nil.
    case verbatimNumber(String)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        // `Codable` has no number-as-text: the nearest `Double` when it is finite, else the text as a string.
        case .verbatimNumber(let text):
            if let value = Double(text), value.isFinite { try container.encode(value) } else { try container.encode(text) }
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// The string, if this is a string.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The number as a `Double`, if this is a number (the nearest one for a ``verbatimNumber(_:)``: infinite for a
    /// magnitude beyond `Double`'s range).
    public var doubleValue: Double? {
        switch self {
        case .int(let value): return Double(value)
        case .double(let value): return value
        case .verbatimNumber(let text): return Double(text)
        default: return nil
        }
    }

    /// The number as an `Int`, if this is an integer or a floating-point number with no fraction.
    public var intValue: Int? {
        switch self {
        case .int(let value): return value
        case .double(let value) where value.rounded() == value && abs(value) < 9e15: return Int(value)
        default: return nil
        }
    }

    /// The elements, if this is an array.
    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// The members, if this is an object.
    public var objectValue: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    /// A number encoded as an integer when it has no fraction, else as a floating-point number.
    public static func number(_ value: Double) -> JSONValue {
        if value.rounded() == value, abs(value) < 9e15 { return .int(Int(value)) }
        return .double(value)
    }
}
